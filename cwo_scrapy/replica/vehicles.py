"""Deterministic fitment data for every catalogue vehicle.

The replica knows only the real year/make/model/trim/drive rows; everything else a scraper
reads (chassis id, vehicle type, bolt pattern, hub bore, lug, stock sizes, staggered, and the
fit ranges for each suspension x modification x rubbing choice) is derived here from the
vehicle and a ``seed`` with ``hashlib.blake2b``, never Python's randomised ``hash()``, so every
process (server, truth dump, tests) agrees. Values are plausible, not real: bolt patterns and
lug sizes follow each make's usual families, lifted trucks get negative offsets, ~15% of RWD
cars are staggered, and ~2% of combinations have one empty range axis (the page then shows
bare units).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import NamedTuple

from cwo_scrapy.replica.catalogue import Vehicle

# -- option lists -------------------------------------------------------------------------------
# Truck lists as the real store renders them (docs/replica.md, "Site"); first = stock choice.
TRUCK_SUSPENSION: tuple[str, ...] = (
    "Stock",
    "Leveling Kit",
    *(
        f'Suspension Lift {n}"'
        for n in (
            "2.5", "3", "3.5", "4", "4.5", "4.75", "5", "5.5", "6", "6.5", "7", "7.5", "8",
            "8.5", "9", "9.5", "10", "12",
        )
    ),
    'Lifted >12"',
    'Body Lift 3"',
    "Leveling Kit & Body Lift",
    'Suspension Lift 6" & Body 3"',
    'Suspension Lift 7" & Body 3"',
    'Suspension Lift 7.5" & Body 3"',
    'Level 2" Drop Rear',
    "Lowered Adj Coil Overs",
    "Lowered on Springs",
    "Lowered 2F / 4R",
    "Lowered 3F / 5R",
    "Lowered 4F / 6R",
    "Lowered 5F / 7R",
    "Lowered 6+F / 8+R",
    "Air Suspension",
)  # fmt: skip
TRUCK_MODIFICATION: tuple[str, ...] = (
    "No Trimming",
    "Minor Plastic Trimming",
    "Major Plastic Trimming",
    "Minor Metal Trimming",
    "Major Metal Trimming",
    "Fenders Rolled",
    "Fenders Rolled and Trimming",
)
TRUCK_RUBBING: tuple[str, ...] = (
    "No rubbing or scrubbing",
    "Slight rub at full turn",
    "Rubs",
    "Rubs like crazy but who cares",
)
# Car lists are invented (only a few real values are known); they start with the sister
# site's car defaults and carry `"`, `&`, `>` and `/` so encoding bugs show up.
CAR_SUSPENSION: tuple[str, ...] = (
    "Stock",
    'Lowered 1"-2"',
    'Lowered 2"-3"',
    'Lowered >3"',
    "Lowering Springs",
    "Coilovers",
    "Bagged / Air Suspension",
    'Lifted 1"-2"',
)
CAR_MODIFICATION: tuple[str, ...] = (
    "No Modification",
    "Minor Fender Liner Trimming",
    "Fenders Rolled",
    "Fenders Pulled & Rolled",
    "Wide Body / Flares",
)
CAR_RUBBING: tuple[str, ...] = ("No rubbing or scrubbing", "Slight rub at full turn", "Rubs")


class OptionLists(NamedTuple):
    suspension: tuple[str, ...]
    modification: tuple[str, ...]
    rubbing: tuple[str, ...]


OPTIONS: dict[str, OptionLists] = {
    "truck": OptionLists(TRUCK_SUSPENSION, TRUCK_MODIFICATION, TRUCK_RUBBING),
    "car": OptionLists(CAR_SUSPENSION, CAR_MODIFICATION, CAR_RUBBING),
}


def option_lists(vehicle_type: str) -> OptionLists:
    """Lists for ``car`` or ``truck`` (any casing); KeyError for anything else."""
    return OPTIONS[vehicle_type.lower()]


def default_combo(vehicle_type: str) -> tuple[str, str, str]:
    """The stock (suspension, modification, rubbing) choice: first element of each list."""
    lists = option_lists(vehicle_type)
    return lists.suspension[0], lists.modification[0], lists.rubbing[0]


# Per-option effects on the fit range: (diameter up, width up, offset down), plus for a few
# truck options a different rear axle (so even a non-staggered vehicle shows Front/Rear).
_Effect = tuple[float, float, float]


def _lift(n: float) -> _Effect:
    return (round(1 + n / 3), min(0.5 + n * 0.35, 4.5), 12 + 7 * n)


_TRUCK_SUSP_EFFECT: dict[str, tuple[_Effect, _Effect | None]] = {
    "Stock": ((0, 0, 0), None),
    "Leveling Kit": ((1, 0.5, 12), None),
    'Lifted >12"': ((6, 5.0, 100), None),
    'Body Lift 3"': ((1, 1.0, 20), None),
    "Leveling Kit & Body Lift": ((2, 1.5, 30), None),
    'Suspension Lift 6" & Body 3"': (_lift(9), None),
    'Suspension Lift 7" & Body 3"': (_lift(10), None),
    'Suspension Lift 7.5" & Body 3"': (_lift(10.5), None),
    'Level 2" Drop Rear': ((1, 0.5, 12), (1, 0.0, 4)),
    "Lowered Adj Coil Overs": ((2, 0.5, -6), None),
    "Lowered on Springs": ((1, 0.5, -4), None),
    "Air Suspension": ((2, 1.0, 6), None),
}
for _s in TRUCK_SUSPENSION:
    if _s.startswith("Suspension Lift") and "Body" not in _s:
        _TRUCK_SUSP_EFFECT[_s] = (_lift(float(_s.split()[-1].rstrip('"'))), None)
    elif _m := re.fullmatch(r"Lowered (\d)\+?F / (\d)\+?R", _s):
        # Lowering the rear more than the front shrinks the rear's room for poke.
        _f, _r = int(_m[1]), int(_m[2])
        _TRUCK_SUSP_EFFECT[_s] = ((_f // 2, 0.5, -2 * _f), (_r // 2, 0.0, -2 * _r))
_CAR_SUSP_EFFECT: dict[str, tuple[_Effect, _Effect | None]] = {
    "Stock": ((0, 0, 0), None),
    'Lowered 1"-2"': ((1, 0.5, 5), None),
    'Lowered 2"-3"': ((1, 1.0, 8), None),
    'Lowered >3"': ((2, 1.5, 12), None),
    "Lowering Springs": ((1, 0.5, 4), None),
    "Coilovers": ((2, 1.0, 10), None),
    "Bagged / Air Suspension": ((2, 1.5, 15), None),
    'Lifted 1"-2"': ((0, 0.5, 6), None),
}
# (width up, offset down) per modification / rubbing index.
_TRUCK_MOD_EFFECT = ((0, 0), (0.5, 6), (1.0, 12), (1.0, 16), (1.5, 22), (0.5, 8), (1.5, 25))
_CAR_MOD_EFFECT = ((0, 0), (0.5, 5), (0.5, 7), (1.0, 12), (2.0, 25))
_TRUCK_RUB_EFFECT = ((0, 0), (0.5, 4), (1.0, 8), (1.5, 14))
_CAR_RUB_EFFECT = ((0, 0), (0.5, 3), (1.0, 6))

# -- hashing ------------------------------------------------------------------------------------


def _h(seed: int, *parts: object) -> int:
    """A stable 64-bit integer for the parts (same in every process and Python version)."""
    data = "\x1f".join(map(str, (seed, *parts))).encode("utf-8")
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "big")


def _pick(seq: tuple | list, h: int):
    return seq[h % len(seq)]


_CHASSIS_MOD = 99991  # prime > catalogue size, so index -> chassis is a bijection


def chassis_id(index: int, seed: int = 0) -> str:
    """DriveRight-style chassis id, unique per catalogue index (an affine bijection mod a prime)."""
    a = 1 + _h(seed, "chassis-a") % (_CHASSIS_MOD - 1)
    b = _h(seed, "chassis-b") % _CHASSIS_MOD
    return str(10000 + (a * index + b) % _CHASSIS_MOD)


# -- vehicle type ---------------------------------------------------------------------------------
_PICKUP = re.compile(
    r"(^F-\d|^F-1$|Ranger|Silverado|Sierra|Colorado|Canyon|^S10$|^S15$|Sonoma|Tacoma|Tundra|"
    r"T100|Pickup|Frontier|TITAN|^D21$|Ridgeline|Gladiator|Comanche|Dakota|Avalanche|"
    r"Santa Cruz|Hombre|^i-\d{3}|Cybertruck|R1T|H3T|Equator|Mighty Max|Raider|^SSR$|"
    r"Caballero|Syclone|Quartermaster|^Baja$|^Brat$|El Camino|Scrambler|Sport Trac|"
    r"Escalade EXT|Mark LT|Blackwood|Trailblazer EXT)"
)
_VAN = re.compile(
    r"(Express|Savana|Astro|Safari|Econoline|^E-\d|Transit|Sprinter|ProMaster|^NV\d|\bVan\b|"
    r"Vanagon|Metris|Sienna|Odyssey|Caravan|Voyager|Town & Country|Pacifica|Quest|Sedona|"
    r"Carnival|Entourage|Previa|MPV|Villager|Windstar|Freestar|Aerostar|Uplander|Venture|"
    r"Lumina APV|Silhouette|Montana|Trans Sport|Terraza|Relay|Routan|EuroVan|Transporter|"
    r"City Express|MV-1|^Expo)"
)
_CARGO_VAN = re.compile(
    r"(Express|Savana|Econoline|^E-\d|Transit|Sprinter|ProMaster|^NV\d|\bVan\b|Vanagon|Metris|"
    r"Transporter|City Express|EuroVan|MV-1)"
)
_SUV = re.compile(
    r"(Tahoe|Suburban|Yukon|Escalade|Blazer|Jimmy|Trailblazer|Envoy|Explorer|Expedition|"
    r"Excursion|Bronco|Escape|^Edge$|^Flex$|EcoSport|4Runner|Sequoia|Land Cruiser|Highlander|"
    r"RAV4|FJ Cruiser|Venza|C-HR|Corolla Cross|bZ4X|Wrangler|Cherokee|Wagoneer|Liberty|"
    r"Patriot|Compass|Renegade|Commander|^CJ|^TJ$|Scout|Durango|Ramcharger|Nitro|Journey|"
    r"Pathfinder|Armada|Xterra|Murano|Rogue|Kicks|Juke|Qashqai|X-Trail|ARIYA|CR-V|HR-V|Pilot|"
    r"Passport|Element|Prologue|^MDX$|^RDX$|^SLX$|^ZDX$|Tucson|Santa Fe|Palisade|Kona|Venue|"
    r"Veracruz|Ioniq 5|Nexo|Sorento|Sportage|Telluride|Seltos|Borrego|EV9|Niro|Forester|"
    r"Ascent|Crosstrek|Tribeca|Solterra|^CX-|Tribute|Navajo|Outlander|Montero|Endeavor|"
    r"Eclipse Cross|RVR|Traverse|Equinox|Trax|Tracker|Captiva|Terrain|Acadia|Enclave|Encore|"
    r"Envision|Envista|Rendezvous|Rainier|^XT\d|^SRX$|LYRIQ|Aviator|Navigator|Nautilus|"
    r"Corsair|^MK[CTX]$|Mountaineer|Mariner|^[GLRNUT]X\d|^RZ\d|^QX|^[FEJ]X\d|^X[1-7]$|^XM$|"
    r"^iX$|^Q[3-8]\b|^SQ\d|RS Q8|^e-tron(?! GT)|Touareg|Tiguan|Atlas|Taos|ID\.4|Cayenne|Macan|"
    r"Bentayga|Cullinan|Urus|Purosangue|DBX|Levante|Grecale|Stelvio|Tonale|E-Pace|F-Pace|"
    r"I-Pace|Range Rover|Defender|Discovery|^LR\d|Freelander|^XC\d|C40|R1S|Grenadier|Eletre|"
    r"^GV\d|Electrified GV70|SUV|Polestar 3|^VF\d|Ocean|Samurai|Sidekick|Vitara|XL-7|X-90|"
    r"Rocky|Amigo|Rodeo|Trooper|Axiom|Ascender|VehiCROSS|Bravada|Aztek|Torrent|^Vue$|"
    r"Outlook|Niva|^H[123]$|Hummer|Trailduster)"
)
# Model codes that mean something only within one make (GM's C/K/R/V pickups, G/P vans...).
_MAKE_CODES: dict[str, tuple[tuple[re.Pattern[str], str], ...]] = {
    "Chevrolet": ((re.compile(r"^[CKRV]\d{2,4}( Pickup| Dually)?$|^[CK]\d{2} Panel"), "Pickup"),
                  (re.compile(r"^[GP]\d{2,4}\b"), "Van")),
    "GMC": ((re.compile(r"^[CKRV]\d{2,4}( Dually)?$|^P\d{4}$"), "Pickup"),
            (re.compile(r"^G\d{4}$"), "Van")),
    "Dodge": ((re.compile(r"^[DW]\d{3}|^Ram \d{2,4}( Dually)?$"), "Pickup"),
              (re.compile(r"^C?B\d{3,4}$|Ram \d{4} Van"), "Van")),
    "Mazda": ((re.compile(r"^B\d{4}$"), "Pickup"),),
    "Jeep": ((re.compile(r"^J\d0$"), "Pickup"),),
    "Ram": ((re.compile(r"^\d{4}"), "Pickup"),),
    "Mercedes-Benz": ((re.compile(r"^G\d{2}|^GL|^ML\d|^EQB|^R\d{3}"), "SUV"),),
    "Nissan": ((re.compile(r"^[67]20$"), "Pickup"),),
}  # fmt: skip
_TRUCK_MAKES = frozenset({"AM General", "Hummer", "INEOS", "Land Rover", "Rivian", "International"})
_TESLA_TRUCKS = frozenset({"X", "Y", "Cybertruck"})
_HEAVY_DUTY = re.compile(r"(2500|3500|4500|F-250|F-350|F-450|Super Duty|HD|XD|Dually|K30|C30)")
_PERFORMANCE_MAKES = frozenset(
    {"BMW", "Mercedes-Benz", "Porsche", "Ferrari", "Lamborghini", "McLaren", "Aston Martin",
     "Jaguar", "Maserati", "Bentley", "Rolls-Royce", "Lexus", "INFINITI", "Genesis", "Audi",
     "Lotus", "Bugatti", "Spyker", "Saleen", "Alfa Romeo", "Cadillac", "Maybach"}
)  # fmt: skip
_STAGGERED_MODELS = re.compile(
    r"(Corvette|Camaro|Mustang|Challenger|Charger|Viper|GT-R|370Z|350Z|Supra)"
)


def _body_and_type(v: Vehicle, seed: int) -> tuple[str, str]:
    """(body type, "car"/"truck"): model-name lists first, then 4WD means truck."""
    model = v.model
    if v.make == "Ford" and model == "Maverick":  # the 1970s Maverick is a car
        return ("Pickup", "truck") if v.year >= 2022 else ("Coupe", "car")
    for pattern, body in _MAKE_CODES.get(v.make, ()):
        if pattern.search(model):
            return body, "truck"
    if v.make == "Tesla":
        if model in _TESLA_TRUCKS:
            return ("Pickup" if model == "Cybertruck" else "SUV"), "truck"
    elif _PICKUP.search(model):
        return "Pickup", "truck"
    elif _VAN.search(model):
        return ("Van" if _CARGO_VAN.search(model) else "Minivan"), "truck"
    elif _SUV.search(model) or v.make in _TRUCK_MAKES or v.drive == "4WD":
        return "SUV", "truck"
    trim = v.trim.lower()
    for word, body in (
        ("convertible", "Convertible"), ("cabrio", "Convertible"), ("roadster", "Convertible"),
        ("spider", "Convertible"), ("spyder", "Convertible"), ("coupe", "Coupe"),
        ("wagon", "Wagon"), ("avant", "Wagon"), ("hatchback", "Hatchback"),
    ):  # fmt: skip
        if word in trim or word in model.lower():
            return body, "car"
    return _pick(("Sedan", "Sedan", "Sedan", "Coupe", "Hatchback"), _h(seed, "body", *v[:3])), "car"


# -- bolt patterns, hubs, lugs ------------------------------------------------------------------
_Bp = tuple[int, float, float]  # lugs, bolt circle mm, hub bore mm
_GM = ((5, 120.0, 67.1), (5, 115.0, 70.3), (5, 120.65, 70.3), (5, 110.0, 65.1)), (
    (6, 139.7, 78.1), (5, 127.0, 78.1), (5, 120.0, 67.1)), ((8, 180.0, 124.1), (8, 165.1, 116.7))  # fmt: skip  # noqa: E501
_MOPAR = ((5, 115.0, 71.5), (5, 114.3, 71.5), (5, 100.0, 57.1)), (
    (5, 139.7, 77.8), (6, 139.7, 77.8), (5, 127.0, 71.5), (5, 114.3, 67.1)), ((8, 165.1, 121.3),)  # fmt: skip  # noqa: E501
_FORD = ((5, 114.3, 70.5), (5, 108.0, 63.4), (4, 108.0, 63.4)), (
    (6, 135.0, 87.1), (5, 114.3, 70.5), (5, 139.7, 87.1)), ((8, 170.0, 124.9),)  # fmt: skip
_JAPAN = ((5, 114.3, 64.1), (4, 100.0, 56.1)), ((5, 114.3, 64.1), (5, 120.0, 64.1)), ()
_TOYOTA = ((5, 114.3, 60.1), (5, 100.0, 54.1)), (
    (6, 139.7, 106.1), (5, 114.3, 60.1), (5, 150.0, 110.1)), ()  # fmt: skip
_NISSAN = ((5, 114.3, 66.1), (4, 100.0, 59.1)), ((6, 139.7, 77.8), (5, 114.3, 66.1)), (
    (8, 165.1, 121.3),)  # fmt: skip
_KOREA = ((5, 114.3, 67.1),), ((5, 114.3, 67.1), (6, 139.7, 67.1)), ()
_VAG = ((5, 112.0, 57.1), (5, 100.0, 57.1)), ((5, 112.0, 57.1), (5, 130.0, 71.6)), ()
_BMW = (
    ((5, 120.0, 72.6), (5, 112.0, 66.6), (4, 100.0, 56.1)),
    ((5, 120.0, 74.1), (5, 112.0, 66.6)),
    (),
)
_MB = ((5, 112.0, 66.6),), ((5, 112.0, 66.6), (5, 130.0, 84.1)), ((6, 130.0, 84.1),)
_EURO = ((5, 108.0, 63.4), (5, 114.3, 67.1)), ((5, 120.0, 72.6), (5, 108.0, 63.4)), ()
_ITALY = (
    ((5, 114.3, 67.1), (5, 110.0, 65.1), (4, 98.0, 58.1)),
    ((5, 110.0, 65.1), (5, 130.0, 71.6)),
    (),
)
_DEFAULT = ((5, 114.3, 67.1), (5, 112.0, 66.6), (4, 100.0, 56.1), (5, 120.0, 72.6)), (
    (5, 114.3, 67.1), (6, 139.7, 106.1)), ((8, 165.1, 121.3),)  # fmt: skip
_MAKE_BP: dict[str, tuple[tuple[_Bp, ...], tuple[_Bp, ...], tuple[_Bp, ...]]] = {
    **dict.fromkeys(("Chevrolet", "GMC", "Cadillac", "Buick", "Pontiac", "Oldsmobile", "Saturn",
                     "Hummer", "AM General", "Asuna"), _GM),
    **dict.fromkeys(("Dodge", "Chrysler", "Plymouth", "Ram", "Jeep", "SRT", "Eagle",
                     "American Motors"), _MOPAR),
    **dict.fromkeys(("Ford", "Lincoln", "Mercury", "Merkur"), _FORD),
    **dict.fromkeys(("Acura", "Honda", "Tesla"), _JAPAN),
    **dict.fromkeys(("Toyota", "Lexus", "Scion"), _TOYOTA),
    **dict.fromkeys(("Nissan", "INFINITI", "Datsun"), _NISSAN),
    **dict.fromkeys(("Hyundai", "Kia", "Genesis", "Mazda", "Mitsubishi", "Suzuki", "Isuzu"),
                    _KOREA),
    **dict.fromkeys(("Audi", "Volkswagen", "Porsche", "Bentley", "Lamborghini", "Bugatti"), _VAG),
    **dict.fromkeys(("BMW", "Mini", "Rolls-Royce"), _BMW),
    **dict.fromkeys(("Mercedes-Benz", "Maybach", "Freightliner", "Smart"), _MB),
    **dict.fromkeys(("Volvo", "Jaguar", "Land Rover", "Polestar", "Saab", "Lotus"), _EURO),
    **dict.fromkeys(("Ferrari", "Maserati", "Alfa Romeo", "Fiat"), _ITALY),
}  # fmt: skip
_LUG_BOLT_MAKES = frozenset(
    {"BMW", "Mini", "Mercedes-Benz", "Maybach", "Audi", "Volkswagen", "Porsche", "Bentley",
     "Lamborghini", "Ferrari", "Maserati", "Alfa Romeo", "Fiat", "Rolls-Royce", "Smart", "Bugatti",
     "McLaren"}
)  # fmt: skip
_M14_MAKES = frozenset(
    {"Mercedes-Benz", "Maybach", "Audi", "Volkswagen", "Porsche", "Tesla", "Bentley", "Lamborghini"}
)
_M12_125 = frozenset({"Nissan", "INFINITI", "Subaru", "Suzuki", "Datsun"})
_DOMESTIC = frozenset(
    {"Chevrolet", "GMC", "Cadillac", "Buick", "Pontiac", "Oldsmobile", "Dodge", "Chrysler",
     "Plymouth", "Jeep", "Ford", "Lincoln", "Mercury", "American Motors", "AM General", "Ram"}
)  # fmt: skip


def _num(x: float) -> str:
    """Numbers as the site prints them: ``18``, ``7.5``, ``114.3``, ``-12``."""
    return str(int(x)) if float(x).is_integer() else f"{x:g}"


def _lug_size(make: str, lugs: int, year: int, truck: bool, h: int) -> str:
    if make in _DOMESTIC and year < 1990:
        return '1/2" x 20' if (lugs >= 6 or h % 2) else '7/16" x 20'
    if make in ("Ford", "Lincoln") and truck and lugs >= 6:
        return "M14 x 2.0"
    if make in _M12_125:
        return "M14 x 1.5" if lugs >= 6 else "M12 x 1.25"
    if lugs >= 6 or make in _M14_MAKES or (truck and h % 3 == 0):
        return "M14 x 1.5"
    if make in ("BMW", "Mini", "Rolls-Royce") and year >= 2017:
        return "M14 x 1.25"
    return "M12 x 1.5"


# -- stock sizes --------------------------------------------------------------------------------
_STOCK_DIAM_CAR = ((1970, (14, 15)), (1990, (13, 14, 15)), (2000, (14, 15, 16)),
                   (2010, (15, 16, 17, 18)), (9999, (16, 17, 18, 19, 20)))  # fmt: skip
_STOCK_DIAM_TRUCK = ((1990, (15, 16)), (2000, (15, 16, 17)), (2010, (16, 17, 18)),
                     (9999, (17, 18, 20)))  # fmt: skip
_WIDTH_FOR_DIAM = {13: (5.0, 5.5), 14: (5.5, 6.0), 15: (6.0, 6.5, 7.0), 16: (6.5, 7.0),
                   17: (7.0, 7.5, 8.0), 18: (7.5, 8.0, 8.5), 19: (8.0, 8.5, 9.0),
                   20: (8.5, 9.0, 9.5)}  # fmt: skip
_PERFORMANCE_TRIMS = re.compile(r"(Rubicon|Raptor|TRX|ZR2|AT4X|Tremor|Power Wagon|Baja)")


def _tire(width_in: float, diam: float, truck: bool, heavy: bool, year: int, h: int) -> str:
    """A tire size whose overall diameter suits the vehicle, e.g. ``235/40R18``."""
    section = round((width_in * 25.4 + (65 if truck else 30) - 5) / 10) * 10 + 5
    target = (30.5 + (h % 5) * 0.5) if truck else (24.5 + (h % 5) * 0.5)
    aspect = round(((target - diam) / 2 * 25.4) / section * 100 / 5) * 5
    aspect = max(25, min(85, aspect))
    lt = heavy or (truck and h % 7 == 0)
    prefix = "LT" if lt else ("P" if year < 2005 and h % 3 == 0 else "")
    return f"{prefix}{section}/{aspect}R{_num(diam)}"


# -- ranges -------------------------------------------------------------------------------------
Range = tuple[float, float]


class AxleRange(NamedTuple):
    """Min/max per axis; None when the site shows an empty range (bare units)."""

    diameter: tuple[float, float] | None
    width: tuple[float, float] | None
    offset: tuple[int, int] | None


class FitRange(NamedTuple):
    front: AxleRange
    rear: AxleRange

    @property
    def staggered(self) -> bool:
        """True when the page shows separate Front/Rear blocks."""
        return self.front != self.rear


def _half(x: float) -> float:
    return round(x * 2) / 2


@dataclass(frozen=True, slots=True)
class VehicleSpec:
    """Everything the replica says about one vehicle, derived from it and ``seed``."""

    vehicle: Vehicle
    seed: int
    chassis_id: str
    model_id: str
    vehicle_type: str  # "car" | "truck"
    vehicle_type_label: str  # record casing: Truck, truck, car or Car
    body_type: str
    lug_count: int
    bolt_circle_mm: float
    hub_bore_mm: float
    lug_type: str
    lug_size: str
    front_diameter: float
    front_width: float
    front_offset: int
    front_tire: str
    rear_diameter: float
    rear_width: float
    rear_offset: int
    rear_tire: str
    staggered: bool
    heavy_duty: bool
    half_inch_min: bool  # some older trucks list 16.5" wheels
    bp_inch_first: bool  # order of data-bp on the store page
    header_style: str  # "nobr" | "span": how the Front/Rear header is marked up

    @property
    def bolt_pattern_mm(self) -> str:
        return f"{self.lug_count}x{_num(self.bolt_circle_mm)}"

    @property
    def bolt_pattern_in(self) -> str:
        return f"{self.lug_count}x{_num(round(self.bolt_circle_mm / 25.4, 2))}"

    @property
    def options(self) -> OptionLists:
        return OPTIONS[self.vehicle_type]

    def record(self) -> dict[str, str]:
        """The fitment API's vehicle record (all values strings, as the real API)."""
        v = self.vehicle
        return {
            "year": str(v.year),
            "make": v.make,
            "model": v.model,
            "trim": v.trim,
            "drive": v.drive,
            "drchassisid": self.chassis_id,
            "drmodelid": self.model_id,
            "vehicleType": self.vehicle_type_label,
            "bodyType": self.body_type,
            "boltpattern": self.bolt_pattern_mm,
            "boltpatternMm": self.bolt_pattern_mm,
            "boltpatternInches": self.bolt_pattern_in,
            "hub": _num(self.hub_bore_mm),
            "lugType": self.lug_type,
            "lugSize": self.lug_size,
            "stockWheelDiameter": _num(self.front_diameter),
            "stockWheelWidth": _num(self.front_width),
            "stockOffset": str(self.front_offset),
            "stockTireSize": self.front_tire,
            "stockWheelDiameterRear": _num(self.rear_diameter),
            "stockWheelWidthRear": _num(self.rear_width),
            "stockOffsetRear": str(self.rear_offset),
            "stockTireSizeRear": self.rear_tire,
            "staggered": "1" if self.staggered else "0",
            "factoryStaggered": "1" if self.staggered else "0",
        }

    def fit_range(self, suspension: str, modification: str, rubbing: str) -> FitRange | None:
        """Front/rear ranges for one combination; None when a value is not in this type's lists."""
        truck = self.vehicle_type == "truck"
        susp = (_TRUCK_SUSP_EFFECT if truck else _CAR_SUSP_EFFECT).get(suspension)
        lists = self.options
        try:
            mi = lists.modification.index(modification)
            ri = lists.rubbing.index(rubbing)
        except ValueError:
            return None
        if susp is None:
            return None
        mw, mo = (_TRUCK_MOD_EFFECT if truck else _CAR_MOD_EFFECT)[mi]
        rw, ro = (_TRUCK_RUB_EFFECT if truck else _CAR_RUB_EFFECT)[ri]
        h = _h(self.seed, "combo", self.vehicle.index, suspension, mi, ri)
        front_eff, rear_eff = susp
        front = self._axle(front_eff, mw + rw, mo + ro, h, rear=False)
        if self.staggered or rear_eff is not None:
            rear = self._axle(rear_eff or front_eff, mw + rw, mo + ro, h >> 8, rear=True)
        else:
            rear = front
        if h % 50 == 7:  # ~2%: one axis has no data and renders bare units
            axis = (h >> 20) % 3
            sides = (0, 1) if rear == front else ((h >> 24) % 2,)
            axles = [front, rear]
            for side in sides:
                axles[side] = axles[side]._replace(**{AxleRange._fields[axis]: None})
            front, rear = axles
        return FitRange(front, rear)

    def _axle(
        self, eff: _Effect, extra_w: float, extra_o: float, h: int, *, rear: bool
    ) -> AxleRange:
        truck = self.vehicle_type == "truck"
        d0 = self.rear_diameter if rear else self.front_diameter
        w0 = self.rear_width if rear else self.front_width
        o0 = self.rear_offset if rear else self.front_offset
        d_up, w_up, o_down = eff
        dmin = max(13.0, d0 - (0 if truck and d0 <= 17 else 1))
        if self.half_inch_min and d0 <= 17:
            dmin = 16.5
        dmax = min(d0 + 2 + d_up, 26.0 if truck else 22.0)
        wmin = max(5.0, w0 - 0.5)
        wmax = _half(min(w0 + 1 + w_up + extra_w + (h % 3 == 0) * 0.5, 14.0 if truck else 12.5))
        jitter = int(h % 7) - 3
        omin = round(o0 - 10 - o_down - extra_o + jitter)
        omax = round(o0 + 10 - max(0.0, o_down) / 3 + (h >> 3) % 5)
        omin = max(omin, -76)
        omax = max(omax, omin + 5)
        return AxleRange((dmin, max(dmax, dmin)), (wmin, max(wmax, wmin)), (omin, omax))


@lru_cache(maxsize=16384)
def vehicle_spec(vehicle: Vehicle, seed: int = 0) -> VehicleSpec:
    """The generated facts for one catalogue vehicle (memoised, bounded)."""
    v = vehicle
    body, vtype = _body_and_type(v, seed)
    truck = vtype == "truck"
    hv = _h(seed, "vehicle", *v[:5])
    # Bolt pattern and model id follow the model generation (~6 model years), like real cars.
    gen = _h(seed, "generation", v.make, v.model, v.year // 6)
    heavy = truck and bool(_HEAVY_DUTY.search(v.model)) and body != "Minivan"
    car_bps, truck_bps, hd_bps = _MAKE_BP.get(v.make, _DEFAULT)
    pool = (hd_bps or truck_bps) if heavy else (truck_bps if truck else car_bps)
    weights = [i for i in range(len(pool)) for _ in range((len(pool) - i) ** 2)]
    lugs, pcd, hub = pool[weights[gen % len(weights)]]
    label = _pick(("Truck", "truck") if truck else ("car", "Car", "car"), hv >> 4)
    # stock sizes
    table = _STOCK_DIAM_TRUCK if truck else _STOCK_DIAM_CAR
    choices = next(c for limit, c in table if v.year < limit)
    d = float(_pick(choices, hv >> 8))
    if heavy and d < 17 and v.year >= 2000:
        d = 17.0
    w = _pick(_WIDTH_FOR_DIAM.get(int(d), (7.5, 8.0)), hv >> 12)
    if truck:
        o = 44 if heavy else (18 + (hv >> 16) % 32)
        if (v.year < 1995 and v.drive == "4WD" and (hv >> 20) % 2) or (
            _PERFORMANCE_TRIMS.search(v.trim) and (hv >> 20) % 3 == 0
        ):
            o = -int((hv >> 24) % 25)  # old 4x4s and some off-road trims sit outboard
        if body in ("Pickup", "Van") and not heavy and (hv >> 28) % 4 == 0:
            w = min(w + 1.0, 9.0)
    elif v.year < 1980:
        o = int((hv >> 16) % 13)
    else:
        o = (35 if v.drive == "FWD" else 20) + int((hv >> 16) % 21)
    perf = v.make in _PERFORMANCE_MAKES or _STAGGERED_MODELS.search(v.model)
    sh = (hv >> 32) % 100
    staggered = not truck and (
        (v.drive == "RWD" and sh < (25 if perf else 8))
        or (v.drive == "AWD" and perf and sh < 15)
        or sh < 1
    )
    dr, wr, orr = d, w, o
    if staggered:
        wr = w + _pick((1.0, 1.0, 1.5, 2.0), hv >> 36)
        dr = d + 1 if (hv >> 40) % 5 == 0 and d < 21 else d
        orr = o + _pick((-8, -5, 0, 5, 7), hv >> 44)
    tire_h = hv >> 48
    return VehicleSpec(
        vehicle=v,
        seed=seed,
        chassis_id=chassis_id(v.index, seed),
        model_id=str(1000 + _h(seed, "model", v.make, v.model) % 9000),
        vehicle_type=vtype,
        vehicle_type_label=label,
        body_type=body,
        lug_count=lugs,
        bolt_circle_mm=pcd,
        hub_bore_mm=hub,
        lug_type="Lug Bolt" if v.make in _LUG_BOLT_MAKES else "Lug Nut",
        lug_size=_lug_size(v.make, lugs, v.year, truck, gen >> 8),
        front_diameter=d,
        front_width=w,
        front_offset=o,
        front_tire=_tire(w, d, truck, heavy, v.year, tire_h),
        rear_diameter=dr,
        rear_width=wr,
        rear_offset=orr,
        rear_tire=_tire(wr, dr, truck, heavy, v.year, tire_h),
        staggered=staggered,
        heavy_duty=heavy,
        half_inch_min=truck and v.year < 1998 and (hv >> 52) % 4 == 0,
        bp_inch_first=bool((hv >> 56) % 2),
        header_style="nobr" if (hv >> 58) % 2 else "span",
    )
