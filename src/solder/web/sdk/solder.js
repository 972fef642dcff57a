/*
 * Solder's frontend SDK: the install modal and the user-token calls, Alloy-compatible.
 *
 * A classic script: loading it defines `window.Alloy` (CommonJS: `module.exports`). `Alloy` is
 * both the default client (`Alloy.setToken(...)`, `Alloy.install(...)`) and a factory of
 * independent clients (`const alloy = Alloy({ baseUrl })`). The server is the origin this
 * script was loaded from, unless `setBaseUrl(url)` (or `setRegion(url)`) names another.
 *
 * The modal is an iframe on the server's `/forge-install` or `/authenticate-app` page. Messages
 * from it are accepted only when they come from that frame and from the server's origin;
 * nothing is ever posted to `*`.
 */
(function (root, factory) {
  "use strict";
  var Alloy = factory(root);
  if (typeof module === "object" && module && module.exports) module.exports = Alloy;
  if (root) root.Alloy = Alloy;
})(typeof self !== "undefined" ? self : typeof globalThis !== "undefined" ? globalThis : undefined, function (root) {
  "use strict";

  var STYLE_ID = "solder-modal-style";
  var CSS =
    ".solder-mask{position:fixed;inset:0;z-index:2147483000;background:rgba(15,23,42,.55);" +
    "display:flex;align-items:center;justify-content:center}" +
    ".solder-mask[hidden]{display:none}" +
    ".solder-frame{width:400px;height:659px;max-width:100vw;max-height:100vh;border:0;" +
    "border-radius:12px;background:#fff;box-shadow:0 20px 50px rgba(0,0,0,.3)}" +
    "@media (max-width:420px){.solder-frame{width:100vw;height:100vh;border-radius:0}}";

  function originOf(url) {
    try {
      return new URL(url, root && root.location ? root.location.href : undefined).origin;
    } catch (e) {
      return null;
    }
  }

  var loadedFrom = (function () {
    try {
      var s = root && root.document && root.document.currentScript;
      return s && s.src ? originOf(s.src) : null;
    } catch (e) {
      return null;
    }
  })();

  /** Region names an ISV may register (`Alloy.regions.eu = "https://..."`); URLs always work. */
  var regions = {};

  function userIdOf(token) {
    try {
      var part = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
      while (part.length % 4) part += "=";
      return JSON.parse(atob(part)).sub || null;
    } catch (e) {
      return null;
    }
  }

  function createClient(options) {
    var state = {
      token: null,
      base:
        (options && options.baseUrl && originOf(options.baseUrl)) ||
        (main ? main.getBaseUrl() : loadedFrom),
      open: null,
    };

    function needToken() {
      if (!state.token) throw new Error("no token set");
    }

    function need() {
      needToken();
      if (!state.base) throw new Error("no server set: call setBaseUrl(<your Solder URL>)");
    }

    function request(method, path, body) {
      need();
      var init = {
        method: method,
        headers: { "x-alloy-user-token": state.token, Accept: "application/json" },
      };
      if (body !== undefined) {
        init.headers["Content-Type"] = "application/json";
        init.body = JSON.stringify(body);
      }
      return fetch(state.base + path, init).then(function (resp) {
        return resp.text().then(function (text) {
          var data = text ? JSON.parse(text) : {};
          if (!resp.ok) {
            var err = new Error(data.message || "HTTP " + resp.status);
            err.status = resp.status;
            throw err;
          }
          return data;
        });
      });
    }

    function close(result) {
      var open = state.open;
      if (!open) return;
      state.open = null;
      root.removeEventListener("message", open.onMessage);
      root.document.removeEventListener("keydown", open.onKey);
      open.mask.remove();
      open.inerted.forEach(function (node) {
        node.inert = false;
      });
      if (open.returnFocus && open.returnFocus.focus) open.returnFocus.focus();
      if (typeof open.callback === "function") open.callback(result);
    }

    function openModal(path, query, callback, hidden) {
      need();
      close({ success: false });
      var doc = root.document;
      if (!doc.getElementById(STYLE_ID)) {
        var style = doc.createElement("style");
        style.id = STYLE_ID;
        style.textContent = CSS;
        doc.head.appendChild(style);
      }
      var params = new URLSearchParams();
      Object.keys(query).forEach(function (key) {
        var value = query[key];
        if (value === undefined || value === null || value === false) return;
        (Array.isArray(value) ? value : [value]).forEach(function (v) {
          params.append(key, typeof v === "object" ? JSON.stringify(v) : String(v));
        });
      });
      params.append("token", state.token);
      params.append("origin", root.location.origin);
      var mask = doc.createElement("div");
      mask.className = "solder-mask";
      mask.hidden = !!hidden;
      mask.setAttribute("role", "dialog");
      mask.setAttribute("aria-modal", "true");
      mask.setAttribute("aria-label", query.title || "Install integration");
      var frame = doc.createElement("iframe");
      frame.className = "solder-frame";
      frame.title = "Install integration";
      frame.src = state.base + path + "?" + params.toString();
      mask.appendChild(frame);
      var open = {
        inerted: [],
        mask: mask,
        frame: frame,
        callback: callback,
        returnFocus: doc.activeElement,
        onMessage: function (event) {
          // only the frame this client opened, and only from the server's own origin
          if (event.origin !== state.base || event.source !== frame.contentWindow) return;
          handle(event.data || {});
        },
        onKey: function (event) {
          if (event.key === "Escape" && !mask.hidden) close({ success: false });
        },
      };
      mask.addEventListener("click", function (event) {
        if (event.target === mask) close({ success: false });
      });
      root.addEventListener("message", open.onMessage);
      doc.addEventListener("keydown", open.onKey);
      doc.body.appendChild(mask);
      state.open = open;
      if (!hidden) reveal(open);
    }

    /* Shows the modal; the rest of the page is inert meanwhile (keyboard and screen readers
     * stay in the dialog), restored as it was on close. */
    function reveal(open) {
      open.mask.hidden = false;
      Array.prototype.forEach.call(root.document.body.children, function (node) {
        if (node !== open.mask && !node.inert) {
          node.inert = true;
          open.inerted.push(node);
        }
      });
      open.frame.focus();
    }

    function handle(msg) {
      var open = state.open;
      if (!open || typeof msg !== "object") return;
      if (msg.showModal) {
        if (open.mask.hidden) reveal(open);
      } else if (msg.workflowCreated) {
        close({ success: true, workflowIds: msg.workflowIds || [] });
      } else if (msg.credentialId || msg.connectionId) {
        var id = msg.credentialId || msg.connectionId;
        close({ success: true, credentialId: id, connectionId: id });
      } else if (msg.connectionStatus === "failed") {
        close({ success: false, connectionStatus: "failed", message: msg.message });
      } else if (msg.closeModal) {
        close({ success: !!msg.success });
      }
    }

    function install(params) {
      var p = params || {};
      var ids = p.workflowIds && p.workflowIds.length ? p.workflowIds : undefined;
      if (!p.integrationId && !ids) throw new Error("install: integrationId or workflowIds required");
      openModal(
        "/forge-install",
        {
          integrationId: p.integrationId,
          id: ids,
          versionId: p.versionIds,
          preFilledValues: p.preFilledValues,
          outputOverride: p.outputOverride,
          forgeMode: "engaged",
          hide: p.hide ? "true" : undefined,
          alwaysShowAuthentication: p.alwaysShowAuthentication ? "true" : undefined,
          operation: p.operation,
          title: p.title,
        },
        p.callback,
        !!p.hide
      );
    }

    function withOperation(operation) {
      return function (params) {
        need();
        var copy = {};
        Object.keys(params || {}).forEach(function (k) {
          copy[k] = params[k];
        });
        copy.operation = operation;
        return install(copy);
      };
    }

    function activeFlag(path) {
      return function (params) {
        need();
        var p = params || {};
        if (!p.workflowId) throw new Error("workflowId: required");
        return request("PUT", path, { userId: userIdOf(state.token), workflowId: p.workflowId });
      };
    }

    return {
      setToken: function (token) {
        if (typeof token !== "string" || !token) throw new Error("setToken: a token is required");
        state.token = token;
      },
      setBaseUrl: function (url) {
        var origin = originOf(url);
        if (!origin) throw new Error("setBaseUrl: not a URL: " + url);
        state.base = origin;
      },
      getBaseUrl: function () {
        return state.base;
      },
      setRegion: function (region) {
        needToken();
        var url = regions[region] || (/^https?:\/\//.test(region) ? region : null);
        if (!url) throw new Error("setRegion: unknown region " + JSON.stringify(region));
        state.base = originOf(url);
      },
      install: function (params) {
        need();
        return install(params);
      },
      edit: withOperation("edit"),
      update: withOperation("update"),
      authenticate: function (params) {
        need();
        var p = params || {};
        if (!p.app && !p.category) throw new Error("authenticate: app or category required");
        openModal(
          "/authenticate-app",
          { app: p.app, category: p.category, integrationId: p.integrationId },
          p.callback,
          false
        );
      },
      getIntegrations: function () {
        return request("GET", "/integrations").then(function (r) {
          return r.data;
        });
      },
      getWorkflows: function () {
        return request("GET", "/workflows").then(function (r) {
          return r.data;
        });
      },
      deactivate: activeFlag("/workflows/deactivate"),
      reactivate: activeFlag("/workflows/activate"),
      close: function () {
        close({ success: false });
      },
    };
  }

  var main = createClient();
  function Alloy(options) {
    return createClient(options);
  }
  Object.keys(main).forEach(function (name) {
    Alloy[name] = main[name];
  });
  Alloy.createClient = createClient;
  Alloy.regions = regions;
  return Alloy;
});
