/*
 * The install modal's steps, run in the page /forge-install (or /authenticate-app) sends.
 *
 * The server embeds a plan (solder/web/plan.py): the apps to connect, the user's existing
 * credentials and answers, the options the SDK passed. This script walks the steps with the
 * user's token through the headless API of its own origin:
 *   1. connect each app (API-key form from the credential metadata, or the OAuth2 popup),
 *   2. ask every field (live dropdowns loaded with the user's credential),
 *   3. complete the installation and tell the opener `{workflowCreated: true, workflowIds}`.
 * Messages go to the framing page's origin by name, never to "*"; the OAuth popup's answer is
 * accepted only from this server's own origin.
 */
(function () {
  "use strict";

  var plan = JSON.parse(document.getElementById("plan").textContent);
  var stepEl = document.getElementById("step");
  var alertEl = document.getElementById("alert");
  var statusEl = document.getElementById("status");
  var stepper = document.getElementById("stepper");
  var credentials = {};
  var shown = false;

  function post(message) {
    if (plan.parentOrigin && window.parent !== window) {
      window.parent.postMessage(message, plan.parentOrigin);
    }
  }

  function show() {
    if (!shown) {
      shown = true;
      post({ showModal: true });
    }
  }

  function h(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (key) {
      var value = attrs[key];
      if (value === undefined || value === null || value === false) return;
      if (key === "text") node.textContent = value;
      else if (key.slice(0, 2) === "on") node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value === true ? "" : value);
    });
    (children || []).forEach(function (child) {
      if (child) node.appendChild(child);
    });
    return node;
  }

  function say(text) {
    statusEl.textContent = text;
  }

  function fail(text) {
    alertEl.textContent = text || "";
  }

  function setStep(label, nodes) {
    stepper.textContent = label;
    stepEl.replaceChildren.apply(stepEl, nodes);
    var first = stepEl.querySelector("input, select, button");
    if (first) first.focus();
  }

  function call(method, path, body) {
    var init = { method: method, headers: { "x-alloy-user-token": plan.token } };
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    return fetch(path, init).then(function (resp) {
      return resp.json().catch(function () { return {}; }).then(function (data) {
        if (!resp.ok) {
          var err = new Error(data.message || "The server answered " + resp.status);
          err.status = resp.status;
          throw err;
        }
        return data;
      });
    });
  }

  /* The field an error message names ("credential.data.storeHash: required" -> storeHash). */
  function namedField(message) {
    var m = /^([\w.]+): /.exec(message || "");
    return m ? m[1].split(".").pop() : null;
  }

  function fieldError(input, text) {
    var note = document.getElementById(input.id + "-error");
    note.textContent = text || "";
    if (text) input.setAttribute("aria-invalid", "true");
    else input.removeAttribute("aria-invalid");
  }

  function control(id, spec, value) {
    var kind = spec.type || "string";
    var attrs = { id: id, name: spec.name, "aria-describedby": id + "-error" };
    if (spec.required) attrs.required = true;
    if (spec.description) attrs["aria-describedby"] += " " + id + "-help";
    var input;
    if (spec.options || spec.optionsFrom) {
      input = h("select", attrs, [h("option", { value: "", text: "Choose…" })]);
      (spec.options || []).forEach(function (o) {
        input.appendChild(h("option", { value: o, text: o }));
      });
    } else if (kind === "boolean") {
      attrs.type = "checkbox";
      input = h("input", attrs);
      input.checked = value === true || value === "true";
      return input;
    } else {
      attrs.type = { number: "number", url: "url", email: "email", secret: "password" }[kind] || "text";
      if (spec.secret) attrs.type = "password";
      attrs.autocomplete = "off";
      input = h("input", attrs);
    }
    if (value !== undefined && value !== null) input.value = String(value);
    var clear = function () {
      if (input.getAttribute("aria-invalid")) fieldError(input, "");
    };
    input.addEventListener("input", clear);
    input.addEventListener("change", clear);
    input.dataset.want = value === undefined || value === null ? "" : String(value);
    return input;
  }

  function row(id, label, input, help) {
    var checkbox = input.type === "checkbox";
    return h("div", { class: checkbox ? "row row-check" : "row" }, [
      checkbox ? input : null,
      h("label", { for: id, text: label + (input.required ? "" : " (optional)") }),
      checkbox ? null : input,
      help ? h("p", { id: id + "-help", class: "help", text: help }) : null,
      h("p", { id: id + "-error", class: "field-error" }),
    ]);
  }

  function check(input, spec) {
    var v = input.type === "checkbox" ? input.checked : input.value.trim();
    if (input.required && input.type !== "checkbox" && v === "") return "This field is required.";
    if (v === "" || input.type === "checkbox") return "";
    if (input.type === "url") {
      try {
        var u = new URL(v);
        if (u.protocol !== "http:" && u.protocol !== "https:") throw new Error();
      } catch (e) {
        return "Enter a full web address, starting with https://";
      }
    }
    if (input.type === "email" && !/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(v)) {
      return "Enter an email address, like name@example.com";
    }
    if (spec.type === "number" && isNaN(Number(v))) return "Enter a number.";
    return "";
  }

  function valueOf(input, spec) {
    if (input.type === "checkbox") return input.checked;
    var v = input.value.trim();
    if (v === "") return null;
    return spec.type === "number" ? Number(v) : v;
  }

  /* Checks every input; shows each problem under its field and focuses the first one. */
  function validate(pairs) {
    var bad = null;
    pairs.forEach(function (p) {
      var problem = check(p.input, p.spec);
      fieldError(p.input, problem);
      if (problem && !bad) bad = p.input;
    });
    if (bad) {
      fail("Some fields need your attention.");
      bad.focus();
    }
    return !bad;
  }

  /* ---- step 1: connect the apps ---- */

  function apiKeyForm(app, done) {
    var pairs = [];
    var rows = app.properties.map(function (prop) {
      var id = "cred-" + app.app + "-" + prop.name;
      var spec = { name: prop.name, required: prop.required !== false, secret: prop.secret };
      var input = control(id, spec, null);
      pairs.push({ input: input, spec: spec });
      return row(id, prop.displayName || prop.name, input, prop.description);
    });
    var button = h("button", { type: "submit", class: "primary", text: "Connect " + app.name });
    var form = h("form", { novalidate: true, "aria-label": "Connect " + app.name }, rows.concat([button]));
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      fail("");
      if (!validate(pairs)) return;
      var data = {};
      pairs.forEach(function (p) { data[p.spec.name] = p.input.value.trim(); });
      button.disabled = true;
      say("Checking your " + app.name + " account…");
      call("POST", "/headless/credentials", { userId: plan.userId, credential: { type: app.app, data: data } })
        .then(function (r) { say(app.name + " is connected."); done(r.credentialId); })
        .catch(function (err) {
          button.disabled = false;
          say("");
          var name = namedField(err.message);
          var hit = pairs.filter(function (p) { return p.spec.name === name; })[0];
          if (hit) { fieldError(hit.input, err.message.replace(/^[\w.]+: /, "")); hit.input.focus(); }
          fail(err.message);
        });
    });
    return form;
  }

  function oauthButton(app, done) {
    // An app whose sign-in page depends on the account (Shopify's shop domain) asks for
    // those fields first; they go to /headless/oauthUrl, which checks them.
    var pairs = app.properties.map(function (prop) {
      var id = "cred-" + app.app + "-" + prop.name;
      var spec = { name: prop.name, required: prop.required !== false, secret: prop.secret };
      return { input: control(id, spec, null), spec: spec, prop: prop, id: id };
    });
    var button = h("button", { type: pairs.length ? "submit" : "button", class: "primary",
                               text: "Connect " + app.name });
    function start(event) {
      if (event) event.preventDefault();
      fail("");
      if (!validate(pairs)) return;
      var query = "app=" + encodeURIComponent(app.app);
      pairs.forEach(function (p) {
        query += "&" + encodeURIComponent(p.spec.name) + "=" + encodeURIComponent(p.input.value.trim());
      });
      var popup = window.open("", "solder-oauth", "width=520,height=680");
      if (!popup) {
        fail("Your browser blocked the sign-in window. Allow pop-ups for this site and try again.");
        return;
      }
      say("Sign in to " + app.name + " in the new window…");
      var finished = false;
      // a popup closed without an answer (the user gave up): say so, after letting a
      // message the callback page posted just before closing arrive
      var watch = setInterval(function () {
        if (!popup.closed) return;
        clearInterval(watch);
        setTimeout(function () {
          if (finished) return;
          window.removeEventListener("message", onMessage);
          say("");
          fail("The sign-in window was closed before " + app.name + " was connected.");
        }, 1000);
      }, 300);
      function onMessage(event) {
        var m = event.data || {};
        if (event.origin !== window.location.origin || event.source !== popup) return;
        if (m.type !== "solder:oauth") return;
        finished = true;
        clearInterval(watch);
        window.removeEventListener("message", onMessage);
        if (m.credentialId && m.app === app.app) {
          say(app.name + " is connected.");
          done(m.credentialId);
        } else {
          say("");
          fail(app.name + " was not connected: " + (m.error || "the sign-in did not finish"));
          if (plan.mode === "authenticate") post({ connectionStatus: "failed", message: m.error });
        }
      }
      window.addEventListener("message", onMessage);
      call("GET", "/headless/oauthUrl?" + query)
        .then(function (r) { popup.location.href = r.data.oauthUrl; })
        .catch(function (err) {
          finished = true;
          clearInterval(watch);
          window.removeEventListener("message", onMessage);
          popup.close();
          say("");
          var name = namedField(err.message);
          var hit = pairs.filter(function (p) { return p.spec.name === name; })[0];
          if (hit) { fieldError(hit.input, err.message.replace(/^[\w.]+: /, "")); hit.input.focus(); }
          fail(err.message);
        });
    }
    if (!pairs.length) {
      button.addEventListener("click", function () { start(null); });
      return button;
    }
    var rows = pairs.map(function (p) {
      return row(p.id, p.prop.displayName || p.prop.name, p.input, p.prop.description);
    });
    var form = h("form", { novalidate: true, "aria-label": "Connect " + app.name }, rows.concat([button]));
    form.addEventListener("submit", start);
    return form;
  }

  function connectStep(apps, label) {
    return new Promise(function (resolve) {
      var cont = h("button", { type: "button", class: "primary", text: "Continue" });
      function refresh() {
        cont.disabled = !apps.every(function (a) { return credentials[a.app]; });
      }
      var cards = apps.map(function (app) {
        var body = h("div", { class: "card-body" });
        function connected(id) {
          credentials[app.app] = id;
          body.replaceChildren(h("p", { class: "ok", text: "✓ Connected" }));
          refresh();
          if (!cont.disabled) cont.focus();
        }
        var action = app.isOauth ? oauthButton(app, connected) : apiKeyForm(app, connected);
        if (app.credentialId) {
          var keep = h("button", { type: "button", class: "secondary", text: "Use the connected account" });
          keep.addEventListener("click", function () { connected(app.credentialId); });
          body.appendChild(h("p", { text: "Already connected." }));
          body.appendChild(keep);
        }
        body.appendChild(action);
        return h("section", { class: "card", "aria-label": app.name }, [
          h("h2", { text: app.name }), body,
        ]);
      });
      cont.addEventListener("click", function () { resolve(); });
      refresh();
      setStep(label, cards.concat([cont]));
    });
  }

  /* ---- step 2: the fields ---- */

  function initial(block, spec) {
    var given = plan.preFilledValues || {};
    var had = (plan.answers || {})[block.blockId] || {};
    if (given[spec.name] !== undefined) return given[spec.name];
    if (had[spec.name] !== undefined && had[spec.name] !== null) return had[spec.name];
    return spec.default;
  }

  function loadOptions(select, spec) {
    var from = spec.optionsFrom;
    var cred = credentials[from.app];
    // busy, not disabled: a disabled control cannot take the step's first focus
    select.setAttribute("aria-busy", "true");
    say("Loading choices from your account…");
    var path = "/metadata/apps/" + encodeURIComponent(from.app) + "/options/" +
      encodeURIComponent(from.name) + "?credentialId=" + encodeURIComponent(cred);
    return call("GET", path).then(function (r) {
      r.data.forEach(function (o) {
        select.appendChild(h("option", { value: o.value, text: o.label }));
      });
      if (select.dataset.want) select.value = select.dataset.want;
      select.removeAttribute("aria-busy");
      say("");
    }).catch(function (err) {
      select.removeAttribute("aria-busy");
      fieldError(select, "Could not load the choices: " + err.message);
    });
  }

  /* Shows the form; each submit that passes the checks goes to `send(pairs)`. A refusal
   * from the server is shown under the field it names, and the form stays to try again. */
  function fieldsStep(blocks, label, send) {
    var pairs = [];
    var rows = [];
    blocks.forEach(function (block) {
      block.fields.forEach(function (spec) {
        var id = "f-" + block.blockId + "-" + spec.name;
        var input = control(id, spec, initial(block, spec));
        pairs.push({ input: input, spec: spec, block: block });
        rows.push(row(id, spec.displayName || spec.name, input, spec.description));
        if (spec.optionsFrom) loadOptions(input, spec);
      });
    });
    var text = plan.operation === "install" ? "Install" : "Save";
    var submit = h("button", { type: "submit", class: "primary", text: text });
    if (!rows.length) {
      rows.push(h("p", { class: "message", text: "Everything is ready. Nothing else to set up." }));
    }
    var form = h("form", { novalidate: true, "aria-label": "Settings" }, rows.concat([submit]));
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      fail("");
      if (!validate(pairs)) return;
      submit.disabled = true;
      send(pairs).catch(function (err) {
        submit.disabled = false;
        say("");
        fail(err.message);
        var name = namedField(err.message);
        var hit = pairs.filter(function (p) { return p.spec.name === name; })[0];
        if (hit) {
          fieldError(hit.input, err.message.replace(/^[\w.]+: /, ""));
          hit.input.focus();
        }
      });
    });
    setStep(label, [form]);
  }

  function answersOf(pairs) {
    var byBlock = {};
    var out = [];
    pairs.forEach(function (p) {
      var key = p.block.workflowId + " " + p.block.blockId;
      if (!byBlock[key]) {
        byBlock[key] = { workflowId: p.block.workflowId, blockId: p.block.blockId, fields: [] };
        out.push(byBlock[key]);
      }
      byBlock[key].fields.push({ name: p.spec.name, value: p.value !== undefined ? p.value : valueOf(p.input, p.spec) });
    });
    return out;
  }

  /* ---- the whole walk ---- */

  function start() {
    var ids = plan.apps.map(function (a) { return credentials[a.app]; });
    var body = {
      userId: plan.userId,
      integrationId: plan.integrationId,
      workflowIds: plan.workflowIds,
      credentialIds: ids,
    };
    // the versions asked for (one per workflow, "" for the newest) and where the output goes
    if (plan.versionIds) body.versionIds = plan.versionIds;
    if (plan.outputOverride) body.outputOverride = plan.outputOverride;
    return call("POST", "/headless/startInstallation", body);
  }

  function complete(started, pairs) {
    say("Installing…");
    return call("POST", "/headless/completeInstallation", {
      installationId: started.installationId,
      data: answersOf(pairs),
    }).then(function (r) {
      say("");
      var ids = r.workflowIds || plan.workflowIds;
      var done = plan.operation === "install" ? "✓ Installed." : "✓ Saved.";
      setStep("Done", [h("p", { class: "ok", text: done + " You can close this window." })]);
      post({ workflowCreated: true, workflowIds: ids });
    });
  }

  function install() {
    var apps = plan.apps.filter(function (a) {
      if (a.credentialId && !plan.alwaysShowAuthentication) {
        credentials[a.app] = a.credentialId;
        return false;
      }
      return true;
    });
    var asking = apps.length > 0;
    var first = asking ? (show(), connectStep(apps, "Step 1 of 3: connect your accounts")) : Promise.resolve();
    return first.then(start).then(function (started) {
      var silent = [];
      started.data.forEach(function (block) {
        block.fields.forEach(function (spec) {
          var v = initial(block, spec);
          if (v === undefined || v === null || v === "") asking = true;
          silent.push({ block: block, spec: spec, value: v === undefined ? null : v });
        });
      });
      if (plan.hide && !asking && plan.operation !== "edit") return complete(started, silent);
      show();
      // nothing to ask: the form is only the Install button, so the user still decides
      fieldsStep(started.data, "Step 2 of 3: settings", function (pairs) {
        return complete(started, pairs);
      });
    });
  }

  /* authenticate({category}): the user picks which of the category's apps to connect. */
  function chooseApp(apps) {
    if (apps.length === 1) return Promise.resolve(apps[0]);
    return new Promise(function (resolve) {
      var items = apps.map(function (app) {
        var pick = h("button", { type: "button", class: "choice", text: app.name });
        pick.addEventListener("click", function () {
          document.title = "Connect " + app.name;
          document.getElementById("title").textContent = "Connect " + app.name;
          resolve(app);
        });
        return h("li", {}, [pick]);
      });
      setStep("Choose the account to connect", [
        h("ul", { class: "choices", "aria-label": "Apps you can connect" }, items),
      ]);
    });
  }

  function authenticate() {
    show();
    return chooseApp(plan.apps).then(function (app) {
      return connectStep([app], "Connect your account").then(function () {
        var id = credentials[app.app];
        post({ credentialId: id, connectionId: id });
      });
    });
  }

  document.getElementById("close").addEventListener("click", function () {
    post({ closeModal: true, success: false });
  });
  // keys pressed inside the frame never reach the ISV's page: Escape is passed on here
  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape") post({ closeModal: true, success: false });
  });

  if (plan.error) {
    show();
    document.getElementById("title").focus();
    return;
  }
  document.title = plan.title;
  (plan.mode === "authenticate" ? authenticate() : install()).catch(function (err) {
    show();
    say("");
    fail(err.message || String(err));
  });
})();
