/*
 * cwo-scrapy replica: stand-in for AWS WAF's captcha.js (our own code, not AWS's).
 *
 * CaptchaScript.renderCaptcha(container, onSuccess) draws the "Begin" button
 * (#amzn-captcha-verify-button). Clicking it fetches a problem from {endpoint}/problem, answers
 * it, POSTs {endpoint}/verify and hands the captcha_voucher to onSuccess, which the interstitial
 * passes to ChallengeScript.submitCaptcha (voucher -> token -> cookie) before reloading.
 */
(function () {
  "use strict";

  var SCRIPT_URL = (document.currentScript && document.currentScript.src) || "";
  var ENDPOINT = SCRIPT_URL.replace(/\/captcha\.js(\?.*)?$/, "");

  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (text) node.textContent = text;
    return node;
  }

  async function solveProblem(status) {
    var resp = await fetch(ENDPOINT + "/problem?kind=sum", { credentials: "omit" });
    if (!resp.ok) throw new Error("captcha problem HTTP " + resp.status);
    var data = await resp.json();
    var operands = data.problem.operands;
    status.textContent = "Checking: " + operands.join(" + ") + " = ?";
    var answer = operands.reduce(function (a, b) { return a + b; }, 0);
    var verify = await fetch(ENDPOINT + "/verify", {
      method: "POST",
      credentials: "omit",
      headers: { "Content-Type": "text/plain;charset=UTF-8" },
      body: JSON.stringify({ state: data.state, solution: String(answer) })
    });
    if (!verify.ok) throw new Error("captcha verify HTTP " + verify.status);
    return (await verify.json()).captcha_voucher;
  }

  window.CaptchaScript = {
    renderCaptcha: function (container, onSuccess) {
      container.textContent = "";
      container.appendChild(el("h1", {}, "Let's confirm you are human"));
      container.appendChild(el("p", {}, "Complete the security check before continuing. " +
        "This step verifies that you are not a bot, which helps to protect your account " +
        "and prevent spam."));
      var button = el("button", { id: "amzn-captcha-verify-button", type: "button" }, "Begin");
      var status = el("p", { class: "amzn-captcha-status", role: "status" });
      container.appendChild(button);
      container.appendChild(status);
      // AWS runs the silent challenge first when the client has no token yet.
      var ready = window.AwsWafIntegration
        ? window.AwsWafIntegration.getToken().catch(function () { return null; })
        : Promise.resolve(null);
      button.addEventListener("click", function () {
        button.disabled = true;
        status.textContent = "Verifying...";
        ready.then(function () { return solveProblem(status); })
          .then(function (voucher) {
            status.textContent = "Verified";
            return onSuccess(voucher);
          })
          .catch(function (err) {
            status.textContent = "Verification failed, please try again. (" + err.message + ")";
            button.disabled = false;
          });
      });
    }
  };
})();
