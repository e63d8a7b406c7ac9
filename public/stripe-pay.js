// Clink: confirms a Stripe PaymentIntent with Stripe Elements on the link page.
// The page renders <form id="stripe-pay" data-client-secret data-publishable-key
// data-return-url data-email [data-payment-method]>; Stripe.js is loaded just before this file.
(function () {
  'use strict';
  var form = document.getElementById('stripe-pay');
  if (!form || typeof window.Stripe !== 'function') return;
  var data = form.dataset;
  var stripe = window.Stripe(data.publishableKey);
  var errorBox = document.getElementById('stripe-error');
  var button = form.querySelector('button[type="submit"]');
  var card = null;
  if (!data.paymentMethod) {
    card = stripe.elements().create('card');
    card.mount('#card-element');
  }
  form.addEventListener('submit', function (event) {
    event.preventDefault();
    button.disabled = true;
    errorBox.textContent = '';
    // A remembered card only needs the bank's confirmation (3-D Secure); a new one is entered.
    var method = data.paymentMethod
      ? data.paymentMethod
      : { card: card, billing_details: { email: data.email } };
    stripe.confirmCardPayment(data.clientSecret, { payment_method: method }).then(function (result) {
      if (result.error) {
        errorBox.textContent = result.error.message || 'The payment failed. Please try again.';
        button.disabled = false;
        return;
      }
      window.location.assign(data.returnUrl);
    });
  });
})();
