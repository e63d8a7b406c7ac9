// Pay what you want: the Buy button shows the amount that will be charged, as the buyer types.
// Without this script the server asks the buyer to confirm an amount the button didn't show.
(function () {
  'use strict';
  function parse(raw) {
    var text = String(raw).trim().replace(',', '.');
    if (!/^\d{1,5}(\.\d{0,2})?$/.test(text)) return null;
    var parts = text.split('.');
    return parseInt(parts[0], 10) * 100 + parseInt(((parts[1] || '') + '00').slice(0, 2), 10);
  }
  function decimal(minor) {
    var cents = String(minor % 100);
    return Math.floor(minor / 100) + '.' + (cents.length < 2 ? '0' + cents : cents);
  }
  document.querySelectorAll('form input[name="amount"][data-currency]').forEach(function (input) {
    var form = input.form;
    var label = form.querySelector('.buy-amount');
    var shown = form.querySelector('input[name="shown_amount"]');
    var minimum = parse(input.dataset.minimum) || 0;
    function update() {
      var minor = parse(input.value);
      var valid = minor !== null && minor >= minimum;
      input.setAttribute('aria-invalid', valid ? 'false' : 'true');
      if (!valid) return;
      if (label) label.textContent = minor === 0 ? 'Get it free' : 'Buy for ' + input.dataset.currency + decimal(minor);
      if (shown) shown.value = decimal(minor);
    }
    input.addEventListener('input', update);
    update();
  });
})();
