/* Gongzhi participation forms: the browser side of generator/forms/rules.py.
 *
 * The page embeds the form's rules and the Chinese messages as JSON (#gz-form-rules); this
 * script runs the same checks as the intake service, shows each message beside its field,
 * and submits with fetch() so the result appears on the page. Without JavaScript the form is
 * a plain HTML form that POSTs to the intake service, which redirects to the thank-you page.
 * No request goes anywhere but the form's own endpoint.
 */
(function () {
  "use strict";

  function fill(template, values) {
    return template.replace(/\{(\w+)\}/g, function (whole, key) {
      return Object.prototype.hasOwnProperty.call(values, key) ? String(values[key]) : whole;
    });
  }

  function whole(pattern, unicode) {
    try {
      return new RegExp("^(?:" + pattern + ")$", unicode ? "u" : "");
    } catch (e) {
      return new RegExp("^(?:" + pattern + ")$");
    }
  }

  function nfkc(text) {
    return text.normalize ? text.normalize("NFKC") : text;
  }

  function Checker(rules) {
    this.rules = rules;
    this.messages = rules.messages;
    this.patterns = {
      number: whole(rules.patterns.number),
      integer: whole(rules.patterns.integer),
      date: whole(rules.patterns.date),
      phone: whole(rules.patterns.phone),
      phoneStrip: new RegExp(rules.patterns.phoneStrip, "g")
    };
  }

  Checker.prototype.message = function (key, values) {
    return fill(this.messages[key], values || {});
  };

  // Same steps as rules.normalize().
  Checker.prototype.normalize = function (field, raw) {
    if (field.kind === "multiple_choice") {
      var seen = [];
      (raw || []).forEach(function (item) {
        item = (item || "").trim();
        if (item && seen.indexOf(item) < 0) seen.push(item);
      });
      return seen;
    }
    var value = (raw || "").trim();
    var kinds = ["number", "date", "rating", "phone"];
    var freeText = field.kind === "short_text" || field.kind === "long_text";
    if (kinds.indexOf(field.kind) >= 0 || (freeText && field.pattern)) value = nfkc(value).trim();
    if (field.kind === "phone") value = value.replace(this.patterns.phoneStrip, "");
    return value;
  };

  function range(checker, low, high, value, prefix) {
    if ((low !== null && value < low) || (high !== null && value > high)) {
      if (low !== null && high !== null) return checker.message(prefix + "_range", { min: low, max: high });
      if (low !== null) return checker.message(prefix + "_min", { min: low });
      return checker.message(prefix + "_max", { max: high });
    }
    return null;
  }

  // Same steps, same order, same messages as rules.check_field().
  Checker.prototype.check = function (field, value) {
    var kind = field.kind;
    if (kind === "multiple_choice") {
      if (!value.length) return field.required ? this.message("required_multiple") : null;
      for (var i = 0; i < value.length; i++) {
        if (field.options.indexOf(value[i]) < 0) return this.message("choice");
      }
      if (field.minChoices !== null && value.length < field.minChoices) return this.message("choices_min", { min: field.minChoices });
      if (field.maxChoices !== null && value.length > field.maxChoices) return this.message("choices_max", { max: field.maxChoices });
      return null;
    }
    if (value === "") {
      if (!field.required) return null;
      if (kind === "consent") return this.message("required_consent");
      if (kind === "single_choice" || kind === "rating") return this.message("required_choice");
      return this.message("required");
    }
    if (kind === "short_text" || kind === "long_text") {
      var n = Array.from(value).length;
      if (field.minLength !== null && n < field.minLength) return this.message("too_short", { min: field.minLength, n: n });
      if (field.maxLength !== null && n > field.maxLength) return this.message("too_long", { max: field.maxLength, n: n });
      if (field.pattern && !whole(field.pattern, true).test(value)) {
        return field.patternDescription
          ? this.message("pattern", { description: field.patternDescription })
          : this.message("pattern_plain");
      }
      return null;
    }
    if (kind === "number") {
      if (!this.patterns.number.test(value)) return this.message("number");
      if (field.integer && !this.patterns.integer.test(value)) return this.message("integer");
      return range(this, field.min, field.max, parseFloat(value), "number");
    }
    if (kind === "date") {
      if (!this.patterns.date.test(value)) return this.message("date");
      var parts = value.split("-").map(Number);
      var d = new Date(Date.UTC(parts[0], parts[1] - 1, parts[2]));
      if (d.getUTCFullYear() !== parts[0] || d.getUTCMonth() !== parts[1] - 1 || d.getUTCDate() !== parts[2] || parts[0] < 1) {
        return this.message("date");
      }
      return range(this, field.minDate, field.maxDate, value, "date");
    }
    if (kind === "rating") {
      var r = /^\d$/.test(value) ? Number(value) : NaN;
      if (!(r >= this.rules.rating[0] && r <= this.rules.rating[1])) return this.message("rating");
      return null;
    }
    if (kind === "phone") return this.patterns.phone.test(value) ? null : this.message("phone");
    if (kind === "single_choice") return field.options.indexOf(value) >= 0 ? null : this.message("choice");
    if (kind === "consent") return this.rules.consentValues.indexOf(value.toLowerCase()) >= 0 ? null : this.message("consent");
    return null;
  };

  // --- the page ---------------------------------------------------------------------------

  function controls(form, name) {
    return Array.prototype.filter.call(form.elements, function (el) { return el.name === name; });
  }

  function read(form, field) {
    var els = controls(form, field.name);
    if (field.kind === "multiple_choice") {
      return els.filter(function (el) { return el.checked; }).map(function (el) { return el.value; });
    }
    if (field.kind === "consent") return els.some(function (el) { return el.checked; }) ? els[0].value : "";
    if (els.length && (els[0].type === "radio")) {
      var checked = els.filter(function (el) { return el.checked; })[0];
      return checked ? checked.value : "";
    }
    return els.length ? els[0].value : "";
  }

  function wrapper(form, name) {
    return form.querySelector('[data-field="' + name + '"]');
  }

  function showError(form, field, message) {
    var box = wrapper(form, field.name);
    if (!box) return;
    var error = document.getElementById("f-" + field.name + "-error");
    if (error) error.textContent = message || "";
    box.classList.toggle("gz-invalid", !!message);
    controls(form, field.name).forEach(function (el) {
      if (message) el.setAttribute("aria-invalid", "true");
      else el.removeAttribute("aria-invalid");
    });
  }

  function firstControl(form, name) {
    return controls(form, name)[0] || null;
  }

  function showSummary(form, summary, errors, fields) {
    var names = fields.map(function (f) { return f.name; }).filter(function (n) { return errors[n]; });
    summary.textContent = "";
    if (!names.length) { summary.hidden = true; return; }
    var title = document.createElement("p");
    title.textContent = "有 " + names.length + " 处需要修改，提交尚未发送：";
    summary.appendChild(title);
    var list = document.createElement("ul");
    names.forEach(function (name) {
      var field = fields.filter(function (f) { return f.name === name; })[0];
      var item = document.createElement("li");
      var a = document.createElement("a");
      var target = firstControl(form, name);
      a.href = "#" + (target ? target.id : "");
      a.textContent = labelOf(form, field) + "：" + errors[name];
      a.addEventListener("click", function (event) {
        event.preventDefault();
        if (target) target.focus();
      });
      item.appendChild(a);
      list.appendChild(item);
    });
    summary.appendChild(list);
    summary.hidden = false;
  }

  function labelOf(form, field) {
    var box = wrapper(form, field.name);
    var label = box && (box.querySelector("legend") || box.querySelector("label"));
    if (!label) return field.name;
    var copy = label.cloneNode(true);
    Array.prototype.forEach.call(copy.querySelectorAll(".gz-req, .gz-sr"), function (el) { el.remove(); });
    return copy.textContent.trim();
  }

  function prefill(form, rules) {
    var params = new URLSearchParams(window.location.search);
    rules.fields.forEach(function (field) {
      if (!field.prefill || !params.has(field.prefill)) return;
      var value = params.get(field.prefill);
      if (field.options.length && field.options.indexOf(value) < 0) return;
      controls(form, field.name).forEach(function (el) {
        if (el.type === "radio" || el.type === "checkbox") el.checked = el.value === value;
        else el.value = value;
      });
    });
  }

  function externalLink(rules) {
    var link = document.getElementById("gz-external");
    if (!link || !rules.external || !rules.external.prefill) return;
    var params = new URLSearchParams(window.location.search);
    var url = new URL(link.href);
    var changed = false;
    Object.keys(rules.external.prefill).forEach(function (param) {
      var source = rules.external.prefill[param];
      if (params.has(source)) { url.searchParams.set(param, params.get(source)); changed = true; }
    });
    if (changed) link.href = url.toString();
  }

  function submissionId() {
    var bytes = new Uint8Array(16);
    (window.crypto || window.msCrypto).getRandomValues(bytes);
    return Array.prototype.map.call(bytes, function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
  }

  function setup(form, rules) {
    var checker = new Checker(rules);
    var fields = rules.fields;
    var summary = document.getElementById("gz-summary");
    var status = document.getElementById("gz-form-status");
    var button = form.querySelector('button[type="submit"]');
    var attempted = false;
    var sid = submissionId();
    form.noValidate = true; // our Chinese messages instead of the browser's bubbles

    function validateAll() {
      var errors = {};
      var values = {};
      fields.forEach(function (field) {
        var value = checker.normalize(field, read(form, field));
        values[field.name] = value;
        var message = checker.check(field, value);
        if (message) errors[field.name] = message;
        showError(form, field, message);
      });
      return { errors: errors, values: values };
    }

    fields.forEach(function (field) {
      var handler = function () {
        var message = checker.check(field, checker.normalize(field, read(form, field)));
        var box = wrapper(form, field.name);
        // While typing, only clear errors; show new ones once the person leaves the field.
        if (!message || attempted || (box && box.classList.contains("gz-invalid"))) showError(form, field, message);
      };
      controls(form, field.name).forEach(function (el) {
        el.addEventListener("change", handler);
        el.addEventListener("blur", function () {
          var value = checker.normalize(field, read(form, field));
          if (attempted || (value !== "" && !(value instanceof Array && !value.length))) {
            showError(form, field, checker.check(field, value));
          }
        });
        el.addEventListener("input", function () {
          var box = wrapper(form, field.name);
          if (box && box.classList.contains("gz-invalid")) handler();
        });
      });
    });

    form.addEventListener("submit", function (event) {
      event.preventDefault();
      attempted = true;
      var result = validateAll();
      showSummary(form, summary, result.errors, fields);
      if (Object.keys(result.errors).length) {
        var first = fields.filter(function (f) { return result.errors[f.name]; })[0];
        var target = first && firstControl(form, first.name);
        if (target) target.focus();
        return;
      }
      send(result.values);
    });

    function send(values) {
      var body = {};
      Object.keys(values).forEach(function (k) { body[k] = values[k]; });
      var hp = form.elements[rules.honeypot];
      body[rules.honeypot] = hp ? hp.value : "";
      body._sid = sid;
      button.disabled = true;
      form.setAttribute("aria-busy", "true");
      status.className = "gz-form-status";
      status.textContent = "正在提交……";
      fetch(form.action, {
        method: "POST",
        headers: { "Content-Type": "application/json", "Accept": "application/json" },
        body: JSON.stringify(body),
        credentials: "omit",
        mode: "cors"
      }).then(function (response) {
        return response.json().catch(function () { return {}; }).then(function (data) {
          return { status: response.status, data: data };
        });
      }).then(function (reply) {
        var data = reply.data || {};
        if (reply.status >= 200 && reply.status < 300 && data.ok !== false) {
          done(data);
          return;
        }
        if (data.errors) {
          fields.forEach(function (field) { showError(form, field, data.errors[field.name] || null); });
          showSummary(form, summary, data.errors, fields);
          summary.focus();
        }
        fail(data.message || "提交未成功（" + reply.status + "），请稍后再试。");
      }).catch(function () {
        fail("网络连接失败，提交未成功。您填写的内容还在，请稍后再试；也可以打印纸质版交到社区。");
      });
    }

    function fail(message) {
      button.disabled = false;
      form.removeAttribute("aria-busy");
      status.className = "gz-form-status gz-failed";
      status.textContent = message;
    }

    function done(data) {
      form.removeAttribute("aria-busy");
      var box = document.createElement("div");
      box.className = "gz-done";
      box.setAttribute("role", "status");
      box.tabIndex = -1;
      var title = document.createElement("p");
      title.className = "gz-done-title";
      title.textContent = data.message || "提交成功，感谢您的参与！";
      box.appendChild(title);
      if (data.receipt) {
        var receipt = document.createElement("p");
        receipt.textContent = "回执编号：" + data.receipt + "（查询或更正时请提供）";
        box.appendChild(receipt);
      }
      form.hidden = true;
      form.parentNode.insertBefore(box, form);
      box.focus();
    }

    prefill(form, rules);
  }

  // The page was generated on some day; the form may have closed since. Dates are China's.
  function chinaToday() {
    var now = new Date(Date.now() + 8 * 3600 * 1000);
    return now.toISOString().slice(0, 10);
  }

  function zhDate(iso) {
    var p = iso.split("-").map(Number);
    return p[0] + "年" + p[1] + "月" + p[2] + "日";
  }

  function outOfDate(form, rules) {
    var today = chinaToday();
    var message = null;
    if (rules.closes && today > rules.closes) message = "本表单已于 " + zhDate(rules.closes) + "截止，不再接收填写。";
    else if (rules.opens && today < rules.opens) message = "本表单将于 " + zhDate(rules.opens) + "开始接收填写。";
    if (!message) return false;
    var note = document.createElement("p");
    note.className = "gz-form-closed";
    note.setAttribute("role", "status");
    note.textContent = message;
    form.parentNode.insertBefore(note, form);
    form.hidden = true;
    return true;
  }

  function init() {
    Array.prototype.forEach.call(document.querySelectorAll("[data-gz-print]"), function (button) {
      button.addEventListener("click", function () { window.print(); });
    });
    var rulesEl = document.getElementById("gz-form-rules");
    if (!rulesEl) return;
    var rules = JSON.parse(rulesEl.textContent);
    externalLink(rules);
    var form = document.getElementById("gz-form");
    if (form && !outOfDate(form, rules)) setup(form, rules);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();

  window.GongzhiForms = { Checker: Checker };
})();
