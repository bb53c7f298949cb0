/*
 * cwo-scrapy replica: stand-in for AWS WAF's challenge.js (our own code, not AWS's).
 *
 * Same public surface as the real script (window.AwsWafIntegration, window.ChallengeScript) and
 * the same token-service calls: GET {endpoint}/inputs?client=browser, a HashcashSHA256 proof of
 * work, POST {endpoint}/verify with text/plain JSON, then the token is written to the
 * aws-waf-token cookie by this script (the protected origin never sets it).
 */
(function () {
  "use strict";

  var SCRIPT_URL = (document.currentScript && document.currentScript.src) || "";
  var ENDPOINT = SCRIPT_URL.replace(/\/challenge(\.compact)?\.js(\?.*)?$/, "");
  var COOKIE = "aws-waf-token";
  var COOKIE_MAX_AGE = 4 * 24 * 3600; // cookie lifetime, not the server's immunity time
  var HASHCASH_SHA256 = "h7b0c470f0cfe3a80a9e26526ad185f484f6817d0832712a4a37a908786a6a67f";
  var REFRESH_KEY = "awswaf_token_refresh_timestamp";
  var ATTEMPTS_KEY = "aws_waf_token_challenge_attempts";
  var REFERRER_KEY = "aws_waf_referrer";
  var MAX_ATTEMPTS = 5; // per minute: stops a reload loop when the server keeps refusing tokens
  var CLIENT_FRESHNESS_MS = 240 * 1000;

  // ---- storage helpers ---------------------------------------------------------------------
  function store(key, value) {
    try { window.localStorage.setItem(key, value); } catch (e) { /* storage disabled */ }
  }
  function load(key) {
    try { return window.localStorage.getItem(key); } catch (e) { return null; }
  }

  function readCookie() {
    var parts = document.cookie ? document.cookie.split("; ") : [];
    for (var i = 0; i < parts.length; i++) {
      var eq = parts[i].indexOf("=");
      if (parts[i].slice(0, eq) === COOKIE) return parts[i].slice(eq + 1);
    }
    return null;
  }

  function cookieDomain() {
    // Shortest entry of awsWafCookieDomainList that covers this host; none -> host-only cookie.
    var list = window.awsWafCookieDomainList || [];
    var host = location.hostname, best = null;
    for (var i = 0; i < list.length; i++) {
      var d = String(list[i]).replace(/^\./, "");
      if (host === d || host.slice(-(d.length + 1)) === "." + d) {
        if (best === null || d.length < best.length) best = d;
      }
    }
    return best;
  }

  function writeCookie(token) {
    var parts = [COOKIE + "=" + token, "Path=/", "Max-Age=" + COOKIE_MAX_AGE, "SameSite=Lax"];
    var domain = cookieDomain();
    if (domain) parts.push("Domain=" + domain);
    if (location.protocol === "https:") parts.push("Secure");
    document.cookie = parts.join("; ");
    store(REFRESH_KEY, String(Date.now()));
  }

  // ---- SHA-256 -------------------------------------------------------------------------------
  var K = [
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2
  ];

  // Pure-JS fallback for contexts without crypto.subtle (non-secure origins).
  function sha256Bytes(bytes) {
    var h = [0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
             0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19];
    var len = bytes.length, total = ((len + 9 + 63) >> 6) << 6;
    var msg = new Uint8Array(total);
    msg.set(bytes);
    msg[len] = 0x80;
    var bitLen = len * 8;
    msg[total - 4] = (bitLen >>> 24) & 0xff;
    msg[total - 3] = (bitLen >>> 16) & 0xff;
    msg[total - 2] = (bitLen >>> 8) & 0xff;
    msg[total - 1] = bitLen & 0xff;
    msg[total - 5] = Math.floor(len / 0x20000000) & 0xff;
    var w = new Array(64);
    for (var off = 0; off < total; off += 64) {
      for (var t = 0; t < 16; t++) {
        var j = off + t * 4;
        w[t] = ((msg[j] << 24) | (msg[j + 1] << 16) | (msg[j + 2] << 8) | msg[j + 3]) >>> 0;
      }
      for (t = 16; t < 64; t++) {
        var x = w[t - 15], y = w[t - 2];
        var s0 = ((x >>> 7) | (x << 25)) ^ ((x >>> 18) | (x << 14)) ^ (x >>> 3);
        var s1 = ((y >>> 17) | (y << 15)) ^ ((y >>> 19) | (y << 13)) ^ (y >>> 10);
        w[t] = (w[t - 16] + s0 + w[t - 7] + s1) >>> 0;
      }
      var a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], k = h[7];
      for (t = 0; t < 64; t++) {
        var S1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
        var ch = (e & f) ^ (~e & g);
        var t1 = (k + S1 + ch + K[t] + w[t]) >>> 0;
        var S0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
        var maj = (a & b) ^ (a & c) ^ (b & c);
        var t2 = (S0 + maj) >>> 0;
        k = g; g = f; f = e; e = (d + t1) >>> 0; d = c; c = b; b = a; a = (t1 + t2) >>> 0;
      }
      h[0] = (h[0] + a) >>> 0; h[1] = (h[1] + b) >>> 0; h[2] = (h[2] + c) >>> 0;
      h[3] = (h[3] + d) >>> 0; h[4] = (h[4] + e) >>> 0; h[5] = (h[5] + f) >>> 0;
      h[6] = (h[6] + g) >>> 0; h[7] = (h[7] + k) >>> 0;
    }
    var out = new Uint8Array(32);
    for (var i = 0; i < 8; i++) {
      out[i * 4] = h[i] >>> 24; out[i * 4 + 1] = (h[i] >>> 16) & 0xff;
      out[i * 4 + 2] = (h[i] >>> 8) & 0xff; out[i * 4 + 3] = h[i] & 0xff;
    }
    return out;
  }

  var encoder = new TextEncoder();
  var subtle = window.isSecureContext && window.crypto && window.crypto.subtle;

  function sha256(text) {
    var bytes = encoder.encode(text);
    if (subtle) {
      return subtle.digest("SHA-256", bytes).then(function (buf) { return new Uint8Array(buf); });
    }
    return Promise.resolve(sha256Bytes(bytes));
  }

  function leadingZeroBits(digest) {
    var bits = 0;
    for (var i = 0; i < digest.length; i++) {
      if (digest[i] === 0) { bits += 8; continue; }
      var byte = digest[i];
      while ((byte & 0x80) === 0) { bits++; byte <<= 1; }
      return bits;
    }
    return bits;
  }

  async function solveHashcash(input, checksum, difficulty) {
    for (var nonce = 0; ; nonce++) {
      var digest = await sha256(input + checksum + nonce);
      if (leadingZeroBits(digest) >= difficulty) return String(nonce);
    }
  }

  function crc32Hex(text) {
    var bytes = encoder.encode(text), crc = -1;
    for (var i = 0; i < bytes.length; i++) {
      crc ^= bytes[i];
      for (var b = 0; b < 8; b++) crc = (crc >>> 1) ^ (0xedb88320 & -(crc & 1));
    }
    return ((crc ^ -1) >>> 0).toString(16).toUpperCase().padStart(8, "0");
  }

  // ---- browser interrogation ------------------------------------------------------------------
  // What the page sees of the browser; the token service refuses inconsistent reports.
  function fingerprint() {
    var uad = navigator.userAgentData;
    return {
      webdriver: navigator.webdriver,
      userAgent: navigator.userAgent,
      platform: navigator.platform,
      userAgentData: uad ? {
        brands: (uad.brands || []).map(function (b) { return { brand: b.brand, version: b.version }; }),
        mobile: uad.mobile,
        platform: uad.platform
      } : null,
      maxTouchPoints: navigator.maxTouchPoints || 0,
      languages: Array.prototype.slice.call(navigator.languages || []),
      screen: { width: screen.width, height: screen.height },
      window: {
        outerWidth: window.outerWidth, outerHeight: window.outerHeight,
        innerWidth: window.innerWidth, innerHeight: window.innerHeight
      }
    };
  }

  // ---- token service calls --------------------------------------------------------------------
  function postText(path, body) {
    return fetch(ENDPOINT + path, {
      method: "POST",
      credentials: "omit",
      headers: { "Content-Type": "text/plain;charset=UTF-8" },
      body: JSON.stringify(body)
    }).then(function (resp) {
      if (!resp.ok) throw new Error("AWS WAF token service: " + path + " HTTP " + resp.status);
      return resp.json();
    });
  }

  function telemetry(name, value) {
    try {
      fetch(ENDPOINT + "/telemetry", {
        method: "POST", credentials: "omit", keepalive: true,
        headers: { "Content-Type": "text/plain;charset=UTF-8" },
        body: JSON.stringify({ name: name, value: value, ts: Date.now() })
      }).catch(function () { /* best effort */ });
    } catch (e) { /* best effort */ }
  }

  function countAttempt() {
    var now = Date.now(), recent = [];
    try { recent = JSON.parse(load(ATTEMPTS_KEY) || "[]"); } catch (e) { recent = []; }
    recent = recent.filter(function (t) { return now - t < 60000; });
    recent.push(now);
    store(ATTEMPTS_KEY, JSON.stringify(recent));
    if (recent.length > MAX_ATTEMPTS) {
      var box = document.getElementById("challenge-container");
      if (box) box.textContent = "Verification keeps failing. Please try again later.";
      throw new Error("AWS WAF: too many challenge attempts");
    }
  }

  async function fetchToken(existingToken) {
    countAttempt();
    var started = Date.now();
    var resp = await fetch(ENDPOINT + "/inputs?client=browser", { credentials: "omit" });
    if (!resp.ok) throw new Error("AWS WAF token service: inputs HTTP " + resp.status);
    var inputs = await resp.json();
    if (inputs.challenge_type !== HASHCASH_SHA256) {
      throw new Error("AWS WAF: unsupported challenge type " + inputs.challenge_type);
    }
    var checksum = crc32Hex(navigator.userAgent);
    var solution = await solveHashcash(inputs.challenge.input, checksum, inputs.difficulty);
    var data = await postText("/verify", {
      challenge: inputs.challenge,
      checksum: checksum,
      solution: solution,
      signals: [{ name: "KramerAndRio", value: { Present: btoa(navigator.userAgent) + "::00::00" } }],
      existing_token: existingToken || null,
      client: "Browser",
      domain: location.hostname,
      fingerprint: fingerprint(),
      metrics: [{ name: "2", value: Date.now() - started, unit: "2" }]
    });
    writeCookie(data.token);
    telemetry("challenge_solved", Date.now() - started);
    return data.token;
  }

  var inflight = null;
  function singleFlight(existingToken) {
    if (!inflight) {
      inflight = fetchToken(existingToken).finally(function () { inflight = null; });
    }
    return inflight;
  }

  function hasToken() {
    var refreshed = Number(load(REFRESH_KEY) || 0);
    return readCookie() !== null && Date.now() - refreshed < CLIENT_FRESHNESS_MS;
  }

  var AwsWafIntegration = {
    saveReferrer: function () {
      store(REFERRER_KEY, document.referrer || "");
    },
    // On an interstitial a present cookie means the server just refused it: refresh it.
    checkForceRefresh: function () {
      return Promise.resolve(Boolean(window.gokuProps) && readCookie() !== null);
    },
    forceRefreshToken: function () {
      return singleFlight(readCookie());
    },
    getToken: function () {
      if (hasToken()) return Promise.resolve(readCookie());
      return singleFlight(readCookie());
    },
    hasToken: hasToken,
    fetch: function (input, init) {
      return AwsWafIntegration.getToken().then(function (token) {
        var options = Object.assign({}, init || {});
        var headers = new Headers(options.headers || {});
        headers.set("x-aws-waf-token", token);
        options.headers = headers;
        return fetch(input, options);
      });
    }
  };

  window.AwsWafIntegration = AwsWafIntegration;
  window.ChallengeScript = {
    getToken: AwsWafIntegration.getToken,
    submitCaptcha: async function (voucher) {
      var data = await postText("/voucher", {
        captcha_voucher: voucher,
        existing_token: readCookie(),
        fingerprint: fingerprint()
      });
      writeCookie(data.token);
      return data.token;
    }
  };
})();
