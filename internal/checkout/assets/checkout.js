// Live status of the checkout page: Server-Sent Events from data-stream,
// falling back to polling data-json when they fail. The words come from the
// server (#words), the rules mirror page.go.
(function () {
  'use strict';
  var main = document.getElementById('checkout');
  var d = main.dataset;
  var words = JSON.parse(document.getElementById('words').textContent);
  var status = d.status;
  var expires = d.expires ? Date.parse(d.expires) : 0;
  var skew = Date.parse(d.now) - Date.now() || 0;
  var source = null, polling = false, failures = 0, clock;
  var $ = function (id) { return document.getElementById(id); };
  var show = function (id, on) { var el = $(id); if (el) el.hidden = !on; };
  var fill = function (text, v) {
    return text.replace(/\{(\w+)\}/g, function (m, k) { return k in v ? v[k] : m; });
  };
  // Amounts arrive as JSON numbers; 8 decimals print them exactly below
  // 67 million coins.
  var coins = function (x) { return (+x || 0).toFixed(8).replace(/\.?0+$/, ''); };
  var done = function () { return status === 'PAID' || status === 'EXPIRED' || status === 'INVALID'; };

  function key(p) {
    if (p.status === 'PAID' && p.overpaid) return 'PAID_OVER';
    if (p.status === 'EXPIRED' && p.paid_late) return 'EXPIRED_LATE';
    if (p.status === 'EXPIRED' && p.amount_received > 0) return 'EXPIRED_PART';
    return p.status;
  }

  function confirmations(p) {
    var n = null;
    (p.transactions || []).forEach(function (t) {
      if (t.state !== 'conflicted' && (n === null || t.confirmations < n)) n = t.confirmations;
    });
    return Math.max(n || 0, 0);
  }

  function render(p) {
    var w = words[key(p)] || words[p.status];
    if (!w) return;
    status = p.status;
    var v = {amount: coins(p.amount), due: coins(p.amount_due), received: coins(p.amount_received),
      coin: p.currency, network: d.network};
    main.dataset.status = status;
    $('badge').textContent = w.badge;
    $('title').textContent = fill(w.title, v);
    $('text').textContent = fill(w.text, v);
    var pay = status === 'UNPAID' || status === 'PARTIAL';
    show('pay', pay);
    if (pay) {
      $('due-label').textContent = w.due;
      $('due').textContent = v.due;
      var qr = d.qr + (status === 'PARTIAL' ? '?content=address' : '');
      if ($('qr').getAttribute('src') !== qr) $('qr').src = qr;
      if ($('wallet') && d.scheme) $('wallet').href = d.scheme + ':' + p.payment_address + '?amount=' + v.due;
    }
    var need = Math.max(p.confirmations_required, 1), n = Math.min(confirmations(p), need);
    show('confirming', status === 'PENDING');
    $('progress').max = need;
    $('progress').value = n;
    $('confirmations').textContent = fill(words.confirmations.text, {n: n, N: need});
    // The stream and the public JSON carry no redirect_url; the page the
    // server renders once PAID has the link back to the shop.
    if (status === 'PAID' && 'return' in d && $('return').hidden) {
      stop();
      location.reload();
      return;
    }
    tick();
    if (done()) stop();
  }

  function tick() {
    var on = expires > 0 && (status === 'UNPAID' || status === 'PARTIAL');
    show('expiry', on);
    if (!on) return;
    var s = Math.ceil((expires - Date.now() - skew) / 1000);
    var pad = function (x) { return (x < 10 ? '0' : '') + x; };
    var h = Math.floor(s / 3600), m = Math.floor(s % 3600 / 60);
    $('countdown').textContent = s <= 0 ? words.timeup.text :
      (h ? h + ':' + pad(m) : m) + ':' + pad(s % 60);
  }

  function stop() {
    if (source) source.close();
    source = null;
    polling = false;
    clearInterval(clock);
  }

  function listen() {
    if (!window.EventSource) return poll();
    source = new EventSource(d.stream);
    source.onopen = function () { failures = 0; };
    source.onmessage = function (e) {
      failures = 0;
      try { render(JSON.parse(e.data)); } catch (err) { /* ignore a bad message */ }
    };
    // EventSource reconnects by itself (with Last-Event-ID); when it gives
    // up, or fails three times in a row, poll instead.
    source.onerror = function () {
      if (source && (source.readyState === 2 || ++failures >= 3)) {
        source.close();
        source = null;
        poll();
      }
    };
  }

  function poll() {
    if (polling || done()) return;
    polling = true;
    (function again() {
      fetch(d.json, {headers: {Accept: 'application/json'}, cache: 'no-store'})
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (b) { if (b && b.payment) render(b.payment); })
        .catch(function () {})
        .then(function () { if (polling && !done()) setTimeout(again, 5000); });
    })();
  }

  document.addEventListener('click', function (e) {
    var b = e.target.closest('button[data-copy]');
    if (!b) return;
    var el = $(b.dataset.copy), text = el.textContent;
    var copied = function () {
      b.textContent = 'Copied';
      $('announce').textContent = 'Copied to the clipboard';
      setTimeout(function () { b.textContent = 'Copy'; }, 2000);
    };
    var fallback = function () {
      getSelection().selectAllChildren(el);
      try { if (document.execCommand('copy')) copied(); } catch (err) { /* selected for a manual copy */ }
    };
    if (navigator.clipboard && window.isSecureContext) navigator.clipboard.writeText(text).then(copied, fallback);
    else fallback();
  });

  Array.prototype.forEach.call(document.querySelectorAll('button[data-copy]'), function (b) { b.hidden = false; });
  if (!done()) {
    clock = setInterval(tick, 1000);
    tick();
    listen();
  }
})();
