/* frontline chat widget. A site adds:
 *   <script src="https://support.example.com/widget.js" async
 *           data-user-id="..." data-user-hash="..." data-name="..." data-email="..."></script>
 * (the data- attributes only for a signed-in customer; see the README) and gets a chat button
 * that opens the chat in a frame. Or, later: Frontline.identify({user_id, user_hash, name, email}).
 * Styles are set through the DOM (not style attributes), so a strict CSP on the site is fine as
 * long as it lets this script load and frames this origin (script-src / frame-src).
 */
(function () {
  "use strict";
  if (window.Frontline && window.Frontline.version) return;
  var script = document.currentScript;
  if (!script || !script.src) return;
  var base = new URL(script.src, location.href).origin;
  var identity = {};
  var map = { userId: "user_id", userHash: "user_hash", name: "name", email: "email" };
  Object.keys(map).forEach(function (k) {
    if (script.dataset[k]) identity[map[k]] = script.dataset[k];
  });

  var button, frame, open = false;

  function chatUrl() {
    // The identity travels in the fragment: it never reaches a server log or a Referer header.
    var params = new URLSearchParams();
    Object.keys(identity).forEach(function (k) { if (identity[k]) params.set(k, identity[k]); });
    var hash = params.toString();
    return base + "/chat?embed=1" + (hash ? "#" + hash : "");
  }

  function narrow() { return window.matchMedia("(max-width: 480px)").matches; }

  function place() {
    if (!frame) return;
    var full = narrow();
    Object.assign(frame.style, full
      ? { right: "0", bottom: "0", width: "100%", height: "100%", borderRadius: "0" }
      : { right: "16px", bottom: "84px", width: "380px", height: "min(600px, calc(100vh - 110px))",
          borderRadius: "12px" });
    // On a narrow screen the chat covers the button: the chat's own close goes through Escape
    // or the button moved on top.
    button.style.zIndex = "2147483647";
  }

  function build() {
    button = document.createElement("button");
    button.type = "button";
    button.id = "frontline-chat-button";
    button.textContent = "Chat with us";
    button.setAttribute("aria-expanded", "false");
    button.setAttribute("aria-controls", "frontline-chat-frame");
    Object.assign(button.style, {
      position: "fixed", right: "16px", bottom: "16px", zIndex: "2147483647",
      padding: "12px 20px", border: "0", borderRadius: "24px", background: "#0b57d0",
      color: "#fff", font: "600 16px/1.2 system-ui, sans-serif", cursor: "pointer",
      boxShadow: "0 2px 8px rgba(0,0,0,.25)"
    });
    button.addEventListener("click", function () { toggle(!open); });
    document.body.appendChild(button);
    document.addEventListener("keydown", function (e) {
      if (e.key === "Escape" && open) { toggle(false); button.focus(); }
    });
    window.addEventListener("resize", place);
    // Escape pressed inside the chat (another document) arrives as a message from the frame.
    window.addEventListener("message", function (e) {
      if (e.origin === base && e.data && e.data.frontline === "close" && open) {
        toggle(false); button.focus();
      }
    });
  }

  function toggle(show) {
    open = show;
    if (show && !frame) {
      frame = document.createElement("iframe");
      frame.id = "frontline-chat-frame";
      frame.title = "Support chat";
      frame.src = chatUrl();
      frame.setAttribute("referrerpolicy", "no-referrer");
      Object.assign(frame.style, {
        position: "fixed", zIndex: "2147483646", boxSizing: "border-box", border: "1px solid #d4d6dc",
        background: "#fff", boxShadow: "0 4px 24px rgba(0,0,0,.25)"
      });
      document.body.appendChild(frame);
    }
    if (frame) {
      frame.style.display = show ? "block" : "none";
      place();
      if (show) frame.focus();
    }
    button.setAttribute("aria-expanded", String(show));
    button.textContent = show ? "Close chat" : "Chat with us";
  }

  window.Frontline = {
    version: 1,
    open: function () { toggle(true); },
    close: function () { toggle(false); },
    /* A signed-in customer: {user_id, user_hash, name?, email?} (or {} to sign out). */
    identify: function (who) {
      identity = {};
      Object.keys(who || {}).forEach(function (k) {
        if (["user_id", "user_hash", "name", "email"].indexOf(k) >= 0 && who[k]) identity[k] = String(who[k]);
      });
      if (frame) frame.src = chatUrl();
    }
  };

  if (document.body) build(); else document.addEventListener("DOMContentLoaded", build);
})();
