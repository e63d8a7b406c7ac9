/* stripe-sim's stand-in for https://js.stripe.com/v3.
 *
 * Implements the small part of Stripe.js Clink uses, against the simulator
 * this file was loaded from: window.Stripe(pk) → elements() / create('card' |
 * 'payment') with plain inputs, confirmCardPayment, confirmPayment,
 * handleCardAction, retrievePaymentIntent, createPaymentMethod. A PaymentIntent
 * that ends in requires_action shows a "Test 3-D Secure" modal whose buttons
 * call POST /_sim/3ds/{pi}. Results have Stripe.js's shape: {paymentIntent} or
 * {error}.
 */
(function () {
  'use strict';
  var script = document.currentScript;
  var API = script && script.src ? new URL(script.src).origin : '__SIM_BASE_URL__';

  // Nested objects → Stripe's bracket form encoding.
  function encode(obj, prefix, out) {
    out = out || [];
    Object.keys(obj).forEach(function (k) {
      var v = obj[k];
      var name = prefix ? prefix + '[' + k + ']' : k;
      if (v === undefined || v === null) return;
      if (typeof v === 'object') encode(v, name, out);
      else out.push(encodeURIComponent(name) + '=' + encodeURIComponent(String(v)));
    });
    return out.join('&');
  }

  function request(key, method, path, params) {
    var body = encode(params || {});
    var url = API + path + (method === 'GET' && body ? '?' + body : '');
    return fetch(url, {
      method: method,
      headers: { Authorization: 'Bearer ' + key, 'Content-Type': 'application/x-www-form-urlencoded' },
      body: method === 'GET' ? undefined : body,
    }).then(function (r) {
      return r.json().then(function (json) { return { ok: r.ok, json: json }; });
    }, function (e) {
      return { ok: false, json: { error: { type: 'api_connection_error', message: String(e) } } };
    });
  }

  function piId(clientSecret) { return String(clientSecret).split('_secret_')[0]; }

  // ---- Elements -----------------------------------------------------------

  function CardElement(type, elements) {
    this.type = type;
    this._elements = elements;
    this._handlers = {};
    this._root = null;
  }
  CardElement.prototype.mount = function (target) {
    var host = typeof target === 'string' ? document.querySelector(target) : target;
    if (!host) throw new Error('stripe-sim: mount target not found: ' + target);
    var root = document.createElement('div');
    root.className = 'StripeElement sim-card-element';
    root.setAttribute('data-testid', 'sim-card-element');
    root.innerHTML =
      '<label style="display:block">Card number <input data-testid="sim-card-number" name="cardnumber" ' +
      'autocomplete="cc-number" inputmode="numeric" placeholder="1234 1234 1234 1234"></label>' +
      '<label style="display:inline-block">Expiry (MM/YY) <input data-testid="sim-card-expiry" name="exp-date" ' +
      'autocomplete="cc-exp" placeholder="MM / YY" size="7"></label> ' +
      '<label style="display:inline-block">CVC <input data-testid="sim-card-cvc" name="cvc" ' +
      'autocomplete="cc-csc" inputmode="numeric" placeholder="CVC" size="4"></label>';
    var self = this;
    root.addEventListener('input', function () { self._emit('change', self._state()); });
    root.addEventListener('focusin', function () { self._emit('focus', { elementType: self.type }); });
    root.addEventListener('focusout', function () { self._emit('blur', { elementType: self.type }); });
    host.appendChild(root);
    this._root = root;
    setTimeout(function () { self._emit('ready', { elementType: self.type }); }, 0);
  };
  CardElement.prototype.unmount = function () {
    if (this._root && this._root.parentNode) this._root.parentNode.removeChild(this._root);
    this._root = null;
  };
  CardElement.prototype.destroy = function () { this.unmount(); this._handlers = {}; };
  CardElement.prototype.on = function (event, cb) {
    (this._handlers[event] = this._handlers[event] || []).push(cb);
    return this;
  };
  CardElement.prototype.off = function (event, cb) {
    this._handlers[event] = (this._handlers[event] || []).filter(function (h) { return h !== cb; });
    return this;
  };
  CardElement.prototype.update = function () {};
  CardElement.prototype.clear = function () {
    if (this._root) this._root.querySelectorAll('input').forEach(function (i) { i.value = ''; });
  };
  CardElement.prototype.focus = function () { if (this._root) this._root.querySelector('input').focus(); };
  CardElement.prototype._emit = function (event, payload) {
    (this._handlers[event] || []).forEach(function (cb) { cb(payload); });
  };
  CardElement.prototype._value = function (testid) {
    var el = this._root && this._root.querySelector('[data-testid="' + testid + '"]');
    return el ? el.value.trim() : '';
  };
  // {card, error}: what Stripe.js validates before it calls the API.
  CardElement.prototype._card = function () {
    var number = this._value('sim-card-number').replace(/[\s-]/g, '');
    var exp = this._value('sim-card-expiry').replace(/\s/g, '').match(/^(\d{1,2})\/?(\d{2}|\d{4})$/);
    var cvc = this._value('sim-card-cvc');
    if (number.length < 12) return { error: validation('incomplete_number', 'Your card number is incomplete.') };
    if (!exp) return { error: validation('incomplete_expiry', "Your card's expiration date is incomplete.") };
    if (cvc.length < 3) return { error: validation('incomplete_cvc', "Your card's security code is incomplete.") };
    return { card: { number: number, exp_month: exp[1], exp_year: exp[2], cvc: cvc } };
  };
  CardElement.prototype._state = function () {
    var number = this._value('sim-card-number');
    var checked = this._card();
    return {
      elementType: this.type,
      empty: !number && !this._value('sim-card-expiry') && !this._value('sim-card-cvc'),
      complete: !checked.error,
      error: undefined,
      brand: /^4/.test(number) ? 'visa' : /^5[1-5]/.test(number) ? 'mastercard' : /^3[47]/.test(number) ? 'amex' : 'unknown',
      value: { postalCode: '' },
    };
  };

  function validation(code, message) { return { type: 'validation_error', code: code, message: message }; }

  function Elements(options) {
    this._options = options || {};
    this._elements = {};
  }
  Elements.prototype.create = function (type, options) {
    if (type !== 'card' && type !== 'payment') throw new Error('stripe-sim: unsupported element type ' + type);
    return (this._elements[type] = new CardElement(type, this));
  };
  Elements.prototype.getElement = function (type) { return this._elements[type] || null; };
  Elements.prototype.update = function (options) { Object.assign(this._options, options); };
  Elements.prototype.submit = function () {
    var el = this._elements.payment || this._elements.card;
    var checked = el ? el._card() : { error: validation('incomplete', 'No payment element mounted.') };
    return Promise.resolve(checked.error ? { error: checked.error } : {});
  };
  Elements.prototype._card = function () { return (this._elements.payment || this._elements.card)._card(); };

  // ---- 3-D Secure challenge ----------------------------------------------

  function challenge(key, pi) {
    return new Promise(function (resolve) {
      var overlay = document.createElement('div');
      overlay.setAttribute('data-testid', 'sim-3ds-modal');
      overlay.setAttribute('role', 'dialog');
      overlay.setAttribute('aria-modal', 'true');
      overlay.setAttribute('aria-label', 'Test 3-D Secure');
      overlay.style.cssText = 'position:fixed;inset:0;background:rgba(0,0,0,.5);z-index:2147483647;' +
        'display:flex;align-items:center;justify-content:center;font-family:sans-serif';
      overlay.innerHTML =
        '<div style="background:#fff;padding:24px;border-radius:8px;max-width:360px;text-align:center">' +
        '<h2 style="margin-top:0">Test 3-D Secure</h2>' +
        '<p>stripe-sim: authenticate a payment of ' + (pi.amount / 100).toFixed(2) + ' ' +
        String(pi.currency).toUpperCase() + '.</p>' +
        '<button type="button" data-testid="sim-3ds-complete">Complete authentication</button> ' +
        '<button type="button" data-testid="sim-3ds-fail">Fail authentication</button></div>';
      document.body.appendChild(overlay);
      function finish(result) {
        overlay.querySelectorAll('button').forEach(function (b) { b.disabled = true; });
        fetch(API + '/_sim/3ds/' + pi.id, {
          method: 'POST',
          headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
          body: encode({ client_secret: pi.client_secret, result: result }),
        }).then(function (r) { return r.json(); }).then(function (updated) {
          overlay.parentNode.removeChild(overlay);
          resolve(outcome(updated.error ? pi : updated, updated.error));
        });
      }
      overlay.querySelector('[data-testid="sim-3ds-complete"]').onclick = function () { finish('success'); };
      overlay.querySelector('[data-testid="sim-3ds-fail"]').onclick = function () { finish('fail'); };
    });
  }

  // A PaymentIntent after an attempt → Stripe.js's result object.
  function outcome(pi, error) {
    if (error) return { error: error };
    if (pi.status === 'requires_payment_method' && pi.last_payment_error) {
      return { error: Object.assign({}, pi.last_payment_error, { payment_intent: pi }) };
    }
    return { paymentIntent: pi };
  }

  // ---- window.Stripe -------------------------------------------------------

  function Stripe(publishableKey) {
    if (!(this instanceof Stripe)) return new Stripe(publishableKey);
    if (!/^pk_/.test(String(publishableKey))) throw new Error('stripe-sim: Stripe() needs a publishable key');
    this._key = publishableKey;
  }
  Stripe.prototype.elements = function (options) { return new Elements(options); };

  Stripe.prototype._confirm = function (clientSecret, params, handleActions) {
    var key = this._key;
    params.client_secret = clientSecret;
    return request(key, 'POST', '/v1/payment_intents/' + piId(clientSecret) + '/confirm', params).then(function (res) {
      if (!res.ok) return { error: res.json.error };
      var pi = res.json;
      if (pi.status === 'requires_action' && handleActions) return challenge(key, pi);
      return { paymentIntent: pi };
    });
  };

  // data: {payment_method: {card: element, billing_details}} | {payment_method: 'pm_…'} | undefined
  Stripe.prototype.confirmCardPayment = function (clientSecret, data, options) {
    data = data || {};
    var params = {};
    var pm = data.payment_method;
    if (typeof pm === 'string') {
      params.payment_method = pm;
    } else if (pm && pm.card) {
      var checked = pm.card._card();
      if (checked.error) return Promise.resolve({ error: checked.error });
      params.payment_method_data = { type: 'card', card: checked.card, billing_details: pm.billing_details };
    }
    if (data.setup_future_usage) params.setup_future_usage = data.setup_future_usage;
    if (data.receipt_email) params.receipt_email = data.receipt_email;
    if (data.return_url) params.return_url = data.return_url;
    return this._confirm(clientSecret, params, !(options && options.handleActions === false));
  };

  // {elements, clientSecret?, confirmParams: {return_url, payment_method_data}, redirect}
  Stripe.prototype.confirmPayment = function (opts) {
    var elements = opts.elements;
    var clientSecret = opts.clientSecret || (elements && elements._options.clientSecret);
    var confirmParams = opts.confirmParams || {};
    var checked = elements._card();
    if (checked.error) return Promise.resolve({ error: checked.error });
    var billing = confirmParams.payment_method_data && confirmParams.payment_method_data.billing_details;
    var params = { payment_method_data: { type: 'card', card: checked.card, billing_details: billing } };
    if (confirmParams.return_url) params.return_url = confirmParams.return_url;
    if (confirmParams.receipt_email) params.receipt_email = confirmParams.receipt_email;
    return this._confirm(clientSecret, params, true).then(function (result) {
      var pi = result.paymentIntent;
      if (pi && opts.redirect !== 'if_required' && confirmParams.return_url) {
        var url = new URL(confirmParams.return_url, window.location.href);
        url.searchParams.set('payment_intent', pi.id);
        url.searchParams.set('payment_intent_client_secret', pi.client_secret);
        url.searchParams.set('redirect_status', pi.status === 'succeeded' ? 'succeeded' : 'failed');
        window.location.assign(url.toString());
        return new Promise(function () {}); // the page is navigating away
      }
      return result;
    });
  };

  Stripe.prototype.retrievePaymentIntent = function (clientSecret) {
    return request(this._key, 'GET', '/v1/payment_intents/' + piId(clientSecret), { client_secret: clientSecret })
      .then(function (res) { return res.ok ? { paymentIntent: res.json } : { error: res.json.error }; });
  };

  Stripe.prototype.handleCardAction = function (clientSecret) {
    var key = this._key;
    return this.retrievePaymentIntent(clientSecret).then(function (result) {
      var pi = result.paymentIntent;
      return pi && pi.status === 'requires_action' ? challenge(key, pi) : result;
    });
  };
  Stripe.prototype.handleNextAction = function (opts) { return this.handleCardAction(opts.clientSecret); };

  // ({type:'card', card: element, billing_details}) or ({elements, params:{billing_details}})
  Stripe.prototype.createPaymentMethod = function (opts) {
    var source = opts.elements || opts.card;
    var checked = source._card();
    if (checked.error) return Promise.resolve({ error: checked.error });
    var billing = opts.billing_details || (opts.params && opts.params.billing_details);
    return request(this._key, 'POST', '/v1/payment_methods', { type: 'card', card: checked.card, billing_details: billing })
      .then(function (res) { return res.ok ? { paymentMethod: res.json } : { error: res.json.error }; });
  };

  window.Stripe = Stripe;
})();
