"""HTML of the replica's pages, as pure functions of the data (no I/O, no request objects).

The markup follows what public CWO scrapers parse (docs/replica.md, "Site"): the
``bp.php`` selects, the home page year list, and the store page with its fit-range blocks, bolt
pattern span, 30 product cards, malformed JSON-LD and Next link. Everything variable is
HTML-escaped; static chrome is built once per process so a store page renders in well under a
millisecond of Python.
"""

from __future__ import annotations

import hashlib
import json
import random
from functools import cache
from html import escape
from typing import NamedTuple
from urllib.parse import quote_plus

from cwo_scrapy.replica.catalogue import Catalogue
from cwo_scrapy.replica.variants import page_layout, served_fit
from cwo_scrapy.replica.vehicles import OPTIONS, AxleRange, FitRange, VehicleSpec, _num

IMAGE_HOST = "https://images.customwheeloffset.com"
CARDS_PER_PAGE = 30
# Page defaults shown when no vehicle is chosen (docs/replica.md, "Site").
NO_VEHICLE_COMBO = ("Leveling Kit", "Minor Plastic Trimming", "No rubbing or scrubbing")

_HEAD = (
    '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
    '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
    "<title>{title}</title>\n"
    '<link rel="stylesheet" href="https://images.enthusiastenterprises.us/css/cwo/store.min.css">\n'
    '<link rel="icon" href="https://images.enthusiastenterprises.us/favicon/cwo.ico">\n'
    '{extra_head}</head>\n<body class="{body_class}">\n'
    '<header class="site-header"><div class="header-inner">'
    '<a class="logo" href="/"><img src="https://images.enthusiastenterprises.us/logos/'
    'custom-offsets.svg" alt="Custom Offsets" width="180" height="40"></a>'
    '<nav class="main-nav"><ul>'
    '<li><a href="/store/wheels">Wheels</a></li><li><a href="/store/tires">Tires</a></li>'
    '<li><a href="/store/suspension">Suspension</a></li>'
    '<li><a href="/store/accessories">Accessories</a></li>'
    '<li><a href="/wheel-offset-gallery">Gallery</a></li>'
    '<li><a href="/makemodel/bp.php">Bolt Patterns</a></li></ul></nav>'
    '<div class="header-contact">Questions? <a href="tel:+18774456868">(877) 445-6868</a></div>'
    "</div></header>\n"
)
_FOOT = (
    '<footer class="site-footer"><div class="footer-cols">'
    '<div><h5>Customer Service</h5><ul><li><a href="/contact">Contact Us</a></li>'
    '<li><a href="/shipping">Shipping &amp; Returns</a></li><li><a href="/financing">Financing'
    '</a></li></ul></div><div><h5>Company</h5><ul><li><a href="/about">About Custom Offsets'
    '</a></li><li><a href="/careers">Careers</a></li><li><a href="/privacy">Privacy Policy</a>'
    '</li></ul></div></div><p class="copyright">&copy; 2026 Custom Offsets, LLC. '
    "All rights reserved.</p></footer>\n"
    '<script src="https://images.enthusiastenterprises.us/js/cwo/store.min.js" defer></script>\n'
    "</body>\n</html>\n"
)


def _page(title: str, body: str, *, body_class: str = "store", extra_head: str = "") -> str:
    return (
        _HEAD.format(title=escape(title), extra_head=extra_head, body_class=body_class)
        + body
        + _FOOT
    )


# -- YMM widgets --------------------------------------------------------------------------------
def _ol(data_type: str, values: list[str] | tuple[str, ...], data_id: str = "") -> str:
    did = f' data-id="{data_id}"' if data_id else ""
    items = "".join(f'<li class="ymm-li" data-value="{escape(v)}">{escape(v)}</li>' for v in values)
    return f'<ol class="ymm-list" data-type="{data_type}"{did}>{items}</ol>'


@cache
def _year_list_html(catalogue: Catalogue) -> str:
    return _ol("year", catalogue.years())


def _ymm_widget(catalogue: Catalogue, chosen: dict[str, str]) -> str:
    """The vehicle selector; ``value`` echoes the vehicle the page was rendered for."""
    parts = ['<div class="store-ymm" id="universal-ymm">']
    for key, label in (("year", "Year"), ("make", "Make"), ("model", "Model"),
                       ("trim", "Trim"), ("drive", "Drive")):  # fmt: skip
        value = escape(chosen.get(key, ""))
        shown = value or label
        if key == "year":
            lst = _year_list_html(catalogue)
        else:
            lst = _ol(key, (), "type" if key == "trim" else "")
        parts.append(
            f'<div class="store-ymm-drop"><span id="{key}" class="ymm-selected" '
            f'value="{value}">{shown}</span>{lst}</div>'
        )
    parts.append(
        '<button id="universal-ymm-build-button" class="ymm-build-button">Search</button></div>'
    )
    return "".join(parts)


@cache
def _preference_lists(vehicle_type: str) -> tuple[str, str, str]:
    lists = OPTIONS[vehicle_type]
    return (
        _ol("suspension", lists.suspension),
        _ol("mod", lists.modification),
        _ol("rub", lists.rubbing),
    )


def _preferences_widget(vehicle_type: str, combo: tuple[str, str, str]) -> str:
    """The "Fitment Preferences" widget: the lists for the vehicle type, the choice selected."""
    lists = _preference_lists(vehicle_type)
    out = ['<div class="fitment-preferences"><h4>Fitment Preferences</h4>']
    for (data_type, label), chosen, ol in zip(
        (("suspension", "Suspension"), ("mod", "Modification"), ("rub", "Rubbing")),
        combo,
        lists,
        strict=True,
    ):
        out.append(
            f'<div class="store-ymm-drop"><label>{label}</label><span class="ymm-selected" '
            f'data-type="{data_type}" data-value="{escape(chosen)}">{escape(chosen)}</span>'
            f"{ol}</div>"
        )
    out.append('<a class="apply-ymm active" href="#">Apply</a></div>')
    return "".join(out)


# -- home and bp.php ----------------------------------------------------------------------------
@cache
def render_home(catalogue: Catalogue) -> str:
    """The home page: the year list a crawler can start from."""
    body = (
        '<main class="home"><section class="hero"><h1>Wheels, Tires &amp; Suspension '
        "for Your Build</h1><p>Shop by vehicle to see only what fits, with thousands of real "
        "customer builds in our offset gallery.</p>"
        + _ymm_widget(catalogue, {})
        + "</section></main>\n"
    )
    return _page("Custom Offsets | Aftermarket Wheels, Tires and Suspension", body,
                 body_class="home")  # fmt: skip


_BP_LEVELS = ("year", "make", "model", "trim", "drive")
_BP_INTRO = (
    "<p>Find the bolt pattern, also called lug pattern, of your vehicle. The bolt pattern is "
    "the number of lug holes and the diameter of the circle they sit on, for example 5x114.3mm "
    "(5x4.5&quot;). Choose your year, make, model, trim and drive to see the bolt pattern, "
    "center bore, thread size and the factory wheel and tire sizes, then shop wheels that fit "
    "without adapters. Aftermarket wheels with the wrong bolt pattern will not mount; always "
    "confirm the pattern before you buy.</p>"
)


def render_bp(
    catalogue: Catalogue,
    year: str | None = None,
    make: str | None = None,
    model: str | None = None,
    trim: str | None = None,
) -> str:
    """``bp.php``: the next select of the cascade; an unknown parent gives an empty select."""
    given = [v for v in (year, make, model, trim)]
    depth = next((i for i, v in enumerate(given) if v is None), 4)
    level = _BP_LEVELS[depth]
    if depth == 0:
        values = catalogue.years()
    elif depth == 1:
        values = catalogue.makes(year or "")
    elif depth == 2:
        values = catalogue.models(year or "", make or "")
    elif depth == 3:
        values = catalogue.trims(year or "", make or "", model or "")
    else:
        values = catalogue.drives(year or "", make or "", model or "", trim or "")
    options = "".join(f'<option value="{escape(v)}">{escape(v)}</option>' for v in values)
    crumbs = " &rsaquo; ".join(escape(v) for v in given[:depth] if v is not None)
    body = (
        '<main class="bp-lookup"><h1>Bolt Pattern Lookup</h1>'
        + (f'<p class="bp-crumbs">{crumbs}</p>' if crumbs else "")
        + _BP_INTRO
        + f'<form class="bp-form" method="get" action="/makemodel/bp.php">'
        f'<label for="{level}">{level.title()}</label>'
        f'<select id="{level}" name="{level}"><option value="">Select {level.title()}</option>'
        f"{options}</select></form></main>\n"
    )
    return _page("Bolt Pattern Lookup by Vehicle | Custom Offsets", body, body_class="bp")


# -- store page ---------------------------------------------------------------------------------
_BRANDS: tuple[tuple[str, str, tuple[str, ...], tuple[str, ...]], ...] = (
    ("Fuel", "FC", ("Rebel D679", "Covert D694", "Contra D615", "Vapor D560"),
     ("Matte Black", "Gloss Black Milled", "Bronze")),
    ("Method", "MR", ("MR305 NV", "MR701", "MR312"), ("Matte Black", "Bronze", "Machined")),
    ("KMC", "KM", ("KM544 Mesa", "KM718 Summit", "KM235 Grenade"),
     ("Satin Black", "Gloss Black Machined")),
    ("Enkei", "EN", ("RPF1", "TS-10", "Raijin"), ("Silver", "Matte Gunmetal", "SBC")),
    ("Konig", "KG", ("Hypergram", "Ampliform", "Dekagram"), ("Gloss Black", "Race Bronze")),
    ("Vossen", "VS", ("HF-5", "HF-2", "EVO-1"), ("Gloss Black", "Satin Bronze", "Tinted Clear")),
    ("XD", "XD", ("XD820 Grenade", "XD863", "XD856 Omega"), ("Satin Black", "Gloss Black")),
    ("Moto Metal", "MO", ("MO970", "MO962"), ("Chrome", "Gloss Black Machined")),
    ("Rotiform", "RO", ("BLQ-C", "KPS", "LAS-R"), ("Matte Black", "Gloss Silver")),
    ("Black Rhino", "BR", ("Armory", "Arsenal", "Sierra"), ("Gunblack", "Matte Black")),
    ("Vision", "VI", ("Manx 2", "Ojos", "Rocker"), ("Black Milled Spoke", "Gloss Black")),
    ("American Racing", "AR", ("AR172 Baja", "Torq Thrust II"), ("Mag Gray", "Polished")),
    ("Ultra", "UL", ("Predator", "Xtreme"), ("Gloss Black Machined", "Chrome")),
    ("Apex", "AP", ("EC-7", "SM-10", "VS-5RS"), ("Satin Black", "Anthracite")),
)  # fmt: skip


def _slug(*parts: str) -> str:
    raw = "-".join(parts).lower()
    return "".join(c if c.isalnum() else "-" for c in raw).strip("-").replace("--", "-")


class _Product(NamedTuple):
    brand: str
    prefix: str
    model: str
    color: str
    slug: str
    image: str
    name: str
    card_head: str  # escaped image + h3 + h4 markup, identical on every card of this product


def _build_products() -> tuple[_Product, ...]:
    out = []
    for brand, prefix, models, colors in _BRANDS:
        for model in models:
            for color in colors:
                image = f"{IMAGE_HOST}/wheels/{_slug(brand, model)}/{_slug(color)}.jpg"
                name = f"{brand} {model} {color}"
                head = (
                    f'<div class="product-card-img"><img loading="lazy" src="{image}" '
                    f'alt="{escape(name)}"></div><h3 class="brand">{escape(brand)}</h3>'
                    f'<h4 class="model-color">{escape(model)} {escape(color)}</h4>'
                )
                slug = _slug(brand, model, color)
                out.append(_Product(brand, prefix, model, color, slug, image, name, head))
    return tuple(out)


_PRODUCTS = _build_products()
_SALE_BANNER = (
    '<div class="deals-red-banner-text"><span class="sale-line">Sale 25% Off</span></div>'
)
_MADE_TO_ORDER = '<p class="made-to-order-text">Made to order</p>'
_IN_STOCK = "https://schema.org/InStock"
_BACKORDER = "https://schema.org/BackOrder"


def _steps(lo: float, hi: float, step: float) -> list[float]:
    n = round((hi - lo) / step)
    return [lo + i * step for i in range(n + 1)]


def _product_cards(
    rng: random.Random,
    axle: AxleRange | None,
    stock: tuple[float, float, int],
    combo: tuple[str, str, str],
) -> tuple[str, list[dict]]:
    """30 cards whose sizes fall inside the (front) fit range, and their JSON-LD products."""
    d_range = axle.diameter if axle and axle.diameter else (stock[0], stock[0] + 2)
    w_range = axle.width if axle and axle.width else (stock[1], stock[1] + 1)
    o_range = axle.offset if axle and axle.offset else (stock[2] - 10, stock[2] + 10)
    diameters = [_num(d) for d in _steps(d_range[0], d_range[1], 0.5) if d.is_integer()] or [
        _num(d_range[0])
    ]
    widths = [_num(w) for w in _steps(w_range[0], w_range[1], 0.5)]
    link_q = "modification={}&amp;rubbing={}&amp;suspension={}".format(
        *(escape(quote_plus(v)) for v in (combo[1], combo[2], combo[0]))
    )
    cards: list[str] = []
    ld: list[dict] = []
    rand = rng.random
    for _ in range(CARDS_PER_PAGE):
        p = _PRODUCTS[int(rand() * len(_PRODUCTS))]
        d = diameters[int(rand() * len(diameters))]
        w = widths[int(rand() * len(widths))]
        o = o_range[0] + int(rand() * (o_range[1] - o_range[0] + 1))
        price = 129 + int(rand() * 56000) / 100
        part = f"{p.prefix}{100 + int(rand() * 900)}{d.replace('.', '')}{w.replace('.', '')}"
        part += f"{'N' if o < 0 else 'P'}{abs(o)}"
        href = f"/buy-wheel-offset/{part}/{p.slug}-{d}x{w.replace('.', '-')}-{o}"
        sale = rand() < 0.25
        in_stock = rand() < 0.85
        cards.append(
            f'<li class="product-card" data-part="{part}"><a class="product-card-a" '
            f'href="{href}?{link_q}">{_SALE_BANNER if sale else ""}{p.card_head}'
            f'<p class="subtitle"> {d}x{w} {o}</p><div class="price-box">'
            f'<span class="current-price">{price:.2f}</span>'
            + (f'<div class="old-price">Was ${price / 0.75:.2f}</div>' if sale else "")
            + ("" if in_stock else _MADE_TO_ORDER)
            + "</div></a></li>"
        )
        ld.append(
            {
                "@type": "Product",
                "url": f"https://www.customwheeloffset.com{href}",
                "name": p.name,
                "image": p.image,
                "model": p.model,
                "color": p.color,
                "height": f"{d}in",
                "width": f"{w}in",
                "depth": f"{o}mm",
                "manufacturer": p.brand,
                "material": "Aluminum",
                "mpn": part,
                "sku": part,
                "offers": {
                    "@type": "Offer",
                    "price": f"{price:.2f}",
                    "availability": _IN_STOCK if in_stock else _BACKORDER,
                    "priceCurrency": "USD",
                },
            }
        )
    return "".join(cards), ld


def _json_ld(products: list[dict]) -> str:
    # The real page double-nests the list: "itemListElement":[[{...}]].
    data = {"@context": "https://schema.org", "@type": "ItemList", "itemListElement": [products]}
    text = json.dumps(data, separators=(",", ":")).replace("</", "<\\/")
    return f'<script type="application/ld+json">{text}</script>\n'


def _range_text(pair: tuple[float, float] | None, unit: str, single: bool = False) -> str:
    if pair is None:
        return f"{unit} to {unit}"
    if single and pair[0] == pair[1]:
        return f"{_num(pair[0])}{unit}"
    return f"{_num(pair[0])}{unit} to {_num(pair[1])}{unit}"


def _broken_text(pair: tuple[float, float] | None, unit: str) -> str:
    """A range in a format our parser does not read: what a site redesign looks like."""
    unit = "in" if unit == chr(34) else unit
    return "n/a" if pair is None else f"{_num(pair[0])}{unit} - {_num(pair[1])}{unit}"


def _fit_block(
    axle: AxleRange, header: str | None, style: str, full: bool, layout: str = "strict"
) -> str:
    cls = "store-ymm-fitrange full-size" if full else "store-ymm-fitrange"
    if header is None:
        head = ""
    elif style == "nobr":
        head = f"<nobr>{header}</nobr>"
    else:
        head = f'<span class="store-conf-header">{header}</span>'
    if layout == "broken":
        texts = [
            _broken_text(axle.diameter, chr(34)),
            _broken_text(axle.width, chr(34)),
            _broken_text(axle.offset, "mm"),
        ]
    else:
        single = layout != "strict"
        texts = [
            _range_text(axle.diameter, chr(34), single),
            _range_text(axle.width, chr(34), single),
            _range_text(axle.offset, "mm", single),
        ]
    return (
        f'<div class="{cls}">{head}'
        f'<span class="store-conf-range">Diameter: <b>{texts[0]}</b>'
        f'</span><span class="store-conf-range">Width: <b>{texts[1]}'
        f'</b></span><span class="store-conf-range">Offset: <b>{texts[2]}'
        "</b></span></div>"
    )


def render_fit_ranges(spec: VehicleSpec, fit: FitRange, layout: str = "strict") -> str:
    """The fit-range blocks and the bolt span, drawn as ``layout`` (``variants.LAYOUTS``).

    ``strict``/``single``/``broken``: one ``full-size`` block when front = rear, else Front and
    Rear blocks; ``headerless``: the same without headers; ``lone``: one plain block (a square
    page); ``noblock``: nothing at all, not even the bolt pattern.
    """
    style = spec.header_style
    if layout == "noblock":
        return ""
    if layout == "lone":
        header = "Front Sizes:" if style == "nobr" else None
        blocks = _fit_block(fit.front, header, style, False, layout)
    elif fit.staggered:
        front_h, rear_h = (
            (None, None) if layout == "headerless" else ("Front Sizes:", "Rear Sizes:")
        )
        blocks = _fit_block(fit.front, front_h, style, False, layout) + _fit_block(
            fit.rear, rear_h, style, False, layout
        )
    else:
        header = None if layout == "headerless" else "Fitment Range:"
        blocks = _fit_block(fit.front, header, style, True, layout)
    mm, inch = spec.bolt_pattern_mm, spec.bolt_pattern_in
    data_bp = f"{inch},{mm}" if spec.bp_inch_first else f"{mm},{inch}"
    bolt = (
        f'<div class="store-bp-wrap">Bolt Pattern: <span class="bolt_patterns store-bp" '
        f'data-bp="{data_bp}"><b>{mm}mm ({inch}")</b></span></div>'
    )
    return f'<div class="store-fitment">{blocks}{bolt}</div>'


def _rng(*parts: object) -> random.Random:
    digest = hashlib.blake2b("\x1f".join(map(str, parts)).encode("utf-8"), digest_size=8)
    return random.Random(int.from_bytes(digest.digest(), "big"))


def last_page(spec: VehicleSpec | None) -> int:
    """How many result pages the store claims for a vehicle (the Next link stops there)."""
    if spec is None:
        return 60
    return 3 + int(spec.chassis_id) % 37


def _next_link(page: int, pages: int) -> str:
    if page >= pages:
        return ""
    return (
        f'<div class="store-pagination"><span class="page-count">Page {page} of {pages}</span>'
        f'<a class="store-btn" href="?store=wheels&amp;page={page + 1}&amp;qdToggle=0&amp;'
        'saleToggle=0&amp;sort=instock">Next</a></div>'
    )


def render_store(
    catalogue: Catalogue,
    spec: VehicleSpec | None,
    combo: tuple[str, str, str] | None,
    *,
    page: int = 1,
    chosen: dict[str, str] | None = None,
    seed: int = 0,
    markup: str = "strict",
) -> str:
    """``/store/wheels``.

    ``spec`` and ``combo`` set: the vehicle's page with fit ranges. ``spec`` None and
    ``chosen`` non-empty: the vehicle was not found, so ``div.no-results-container`` and no fit
    range. Both None: the generic store page (no vehicle in the query or the session).
    ``chosen`` is echoed in the YMM widget; ``markup`` is one of ``variants.MARKUPS``.
    """
    chosen = chosen or {}
    fit = spec.fit_range(*combo) if spec is not None and combo is not None else None
    if spec is not None and fit is not None and combo is not None:
        layout = page_layout(spec, combo, fit, markup)
        fit = served_fit(fit, layout)
        v = spec.vehicle
        title = f"{v.year} {v.make} {v.model} Wheels | Custom Offsets"
        pages = last_page(spec)
        prefs = _preferences_widget(spec.vehicle_type, combo)
        fit_html = render_fit_ranges(spec, fit, layout)
        h1 = f"Wheels for your {v.year} {v.make} {v.model} {v.trim} {v.drive}"
        if page > pages:
            cards, ld = "", []
        else:
            stock = (spec.front_diameter, spec.front_width, spec.front_offset)
            rng = _rng(seed, "cards", spec.chassis_id, *combo, page)
            cards, ld = _product_cards(rng, fit.front, stock, combo)
    elif chosen:
        title = "Shop Wheels and Rims | Custom Offsets"
        pages = 0
        prefs = _preferences_widget("truck", NO_VEHICLE_COMBO)
        fit_html = ""
        h1 = "Wheels"
        cards, ld = "", []
    else:
        title = "Shop Truck Wheels and Rims | Aftermarket Wheels | Custom Offsets"
        pages = last_page(None)
        prefs = _preferences_widget("truck", NO_VEHICLE_COMBO)
        fit_html = ""
        h1 = "Truck Wheels"
        combo = NO_VEHICLE_COMBO
        cards, ld = _product_cards(_rng(seed, "cards", "generic", page), None, (20, 9, 0), combo)
    results = (
        f'<ul class="product-list">{cards}</ul>'
        if cards
        else '<div class="no-results-container"><h3>No results found</h3><p>Try changing your '
        "fitment preferences or clearing filters.</p></div>"
    )
    body = (
        '<main class="store-main"><aside class="store-sidebar">'
        + _ymm_widget(catalogue, chosen)
        + prefs
        + '</aside><section class="store-results">'
        + f"<h1>{escape(h1)}</h1>"
        + fit_html
        + results
        + _next_link(page, pages)
        + "</section></main>\n"
    )
    return _page(title, body, extra_head=_json_ld(ld) if ld else "")
