/* TV page runtime: remote-control keys, focus, XHR. Plain ES5 for old set-top browsers (no let/const, arrow
   functions, fetch or Promise). Key codes: Huawei/ZTE IPTV, iPanel, HbbTV/webOS and Android TV WebView. */
var TV = (function () {
  var KEYS = {
    38: 'up', 40: 'down', 37: 'left', 39: 'right',       /* Huawei/ZTE, HbbTV, Android DPAD */
    1: 'up', 2: 'down', 3: 'left', 4: 'right',           /* iPanel */
    13: 'ok',
    8: 'back', 24: 'back', 340: 'back', 461: 'back', 27: 'back', /* IPTV, iPanel, HbbTV, Esc (Android) */
    339: 'exit',                                          /* iPanel exit */
    33: 'pageup', 34: 'pagedown', 372: 'pageup', 373: 'pagedown',
    275: 'red', 276: 'green', 277: 'yellow', 278: 'blue',
    403: 'red', 404: 'green', 405: 'yellow', 406: 'blue',
    2305: 'red', 2306: 'green', 2307: 'yellow', 2308: 'blue'
  };
  var current = null;
  var handledDown = null;
  var api = { actions: {}, onDigit: null, onKey: null, lastKey: null };

  function byClass(name) {
    var all = document.getElementsByTagName('*'), out = [], i;
    for (i = 0; i < all.length; i++) {
      if ((' ' + all[i].className + ' ').indexOf(' ' + name + ' ') >= 0) { out.push(all[i]); }
    }
    return out;
  }
  function hasClass(el, name) { return (' ' + el.className + ' ').indexOf(' ' + name + ' ') >= 0; }
  function addClass(el, name) { if (!hasClass(el, name)) { el.className = el.className + ' ' + name; } }
  function removeClass(el, name) {
    el.className = (' ' + el.className + ' ').replace(' ' + name + ' ', ' ').replace(/^\s+|\s+$/g, '');
  }
  function pos(el) {
    var x = 0, y = 0, e = el;
    while (e) { x += e.offsetLeft; y += e.offsetTop; e = e.offsetParent; }
    var p = el.parentNode;
    while (p && p !== document.body) { if (p.scrollTop) { y -= p.scrollTop; } p = p.parentNode; }
    return { x: x, y: y, w: el.offsetWidth, h: el.offsetHeight };
  }
  function visible(el) { return el.offsetWidth > 0 || el.offsetHeight > 0; }
  function focusables() {
    var list = byClass('f'), out = [], i;
    for (i = 0; i < list.length; i++) { if (visible(list[i])) { out.push(list[i]); } }
    return out;
  }
  function reveal(el) {
    var box = el.parentNode;
    while (box && box !== document.body && !hasClass(box, 'scroll') && !hasClass(box, 'list')) { box = box.parentNode; }
    if (!box || box === document.body) { return; }
    var top = el.offsetTop - box.offsetTop, bottom = top + el.offsetHeight;
    if (el.offsetParent === box) { top = el.offsetTop; bottom = top + el.offsetHeight; }
    if (top < box.scrollTop) { box.scrollTop = top; }
    else if (bottom > box.scrollTop + box.offsetHeight) { box.scrollTop = bottom - box.offsetHeight; }
  }
  function focus(el) {
    if (!el) { return; }
    if (current) { removeClass(current, 'focus'); }
    current = el;
    addClass(el, 'focus');
    reveal(el);
    document.body.setAttribute('data-focused', el.id || '');
  }
  function move(dir) {
    var list = focusables(), best = null, bestScore = 1e9, i, a, b, dx, dy, main, side, score;
    if (!current || !visible(current)) { focus(list[0]); return; }
    a = pos(current);
    for (i = 0; i < list.length; i++) {
      if (list[i] === current) { continue; }
      b = pos(list[i]);
      dx = (b.x + b.w / 2) - (a.x + a.w / 2);
      dy = (b.y + b.h / 2) - (a.y + a.h / 2);
      /* main: distance in the direction; side: the gap between the two boxes across it (0 when they overlap),
         then a small pull towards the same left (or top) edge, so a wide field goes down to the first button. */
      if (dir === 'up' || dir === 'down') {
        main = dir === 'up' ? -dy : dy;
        side = Math.max(0, Math.max(a.x, b.x) - Math.min(a.x + a.w, b.x + b.w)) * 2 + Math.abs(b.x - a.x) * 0.05;
      } else {
        main = dir === 'left' ? -dx : dx;
        side = Math.max(0, Math.max(a.y, b.y) - Math.min(a.y + a.h, b.y + b.h)) * 2 + Math.abs(b.y - a.y) * 0.05;
      }
      if (main <= 2) { continue; }
      score = main + side;
      if (score < bestScore) { bestScore = score; best = list[i]; }
    }
    if (best) { focus(best); }
  }
  function go(url) { if (url) { window.location.href = url; } }
  function activate(el) {
    if (!el) { return; }
    var act = el.getAttribute('data-act');
    if (act && api.actions[act]) { api.actions[act](el); return; }
    if (el.getAttribute('href')) { go(el.getAttribute('href')); }
  }
  function handle(code) {
    var name = KEYS[code];
    api.lastKey = name || String(code);
    document.body.setAttribute('data-last-key', api.lastKey);
    if (api.onKey && api.onKey(name, code)) { return true; }
    if (code >= 48 && code <= 57) { return digit(code - 48); }
    if (code >= 96 && code <= 105) { return digit(code - 96); }
    if (!name) { return false; }
    if (name === 'up' || name === 'down' || name === 'left' || name === 'right') { move(name); return true; }
    if (name === 'ok') { activate(current); return true; }
    if (name === 'back' || name === 'exit') {
      var back = document.body.getAttribute('data-back');
      if (back) { go(back); } else if (window.history.length > 1) { window.history.back(); }
      return true;
    }
    if (name === 'pageup') { go(document.body.getAttribute('data-prev')); return true; }
    if (name === 'pagedown') { go(document.body.getAttribute('data-next')); return true; }
    return false;
  }
  function digit(d) {
    if (api.onDigit) { api.onDigit(d); return true; }
    var el = document.getElementById('n' + d);
    if (el) { focus(el); activate(el); }
    return true;
  }
  function stop(e) {
    if (e.preventDefault) { e.preventDefault(); }
    e.returnValue = false;
    return false;
  }
  document.onkeydown = function (e) {
    e = e || window.event;
    var code = e.which || e.keyCode;
    handledDown = code;
    if (handle(code)) { return stop(e); }
    return true;
  };
  /* Some iPanel middleware delivers remote keys only as keypress events. */
  document.onkeypress = function (e) {
    e = e || window.event;
    var code = e.which || e.keyCode;
    if (handledDown !== null) { handledDown = null; return true; }
    if (KEYS[code] && handle(code)) { return stop(e); }
    return true;
  };
  document.onkeyup = function () { handledDown = null; };

  function xhr(method, url, body, done) {
    var req = new XMLHttpRequest();
    req.open(method, url, true);
    req.setRequestHeader('Authorization', 'Bearer ' + document.body.getAttribute('data-token'));
    if (body !== null) { req.setRequestHeader('Content-Type', 'application/json'); }
    req.onreadystatechange = function () {
      if (req.readyState !== 4) { return; }
      var data = null;
      try { data = JSON.parse(req.responseText); } catch (err) { data = null; }
      done(req.status, data);
    };
    req.send(body === null ? null : JSON.stringify(body));
  }
  function esc(text) {
    return String(text === null || text === undefined ? '' : text).replace(/&/g, '&amp;').replace(/</g, '&lt;')
      .replace(/>/g, '&gt;').replace(/"/g, '&quot;');
  }
  function text(id, value) { var el = document.getElementById(id); if (el) { el.innerHTML = esc(value); } }

  api.focus = focus;
  api.move = move;
  api.current = function () { return current; };
  api.handle = handle;
  api.xhr = xhr;
  api.esc = esc;
  api.text = text;
  api.byClass = byClass;
  api.addClass = addClass;
  api.removeClass = removeClass;
  api.hasClass = hasClass;
  api.start = function () {
    var first = document.getElementById(document.body.getAttribute('data-first') || '') || focusables()[0];
    focus(first);
  };
  return api;
})();
