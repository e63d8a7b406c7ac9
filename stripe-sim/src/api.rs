//! The simulated Stripe account: stored objects, the REST subset and the
//! PaymentIntent state machine.
//!
//! Everything here is synchronous and runs under one mutex (see `lib.rs`),
//! so a request, its idempotency record and the events it creates are
//! atomic. Events that need delivering are queued in `outbox` and pushed by
//! the caller once the lock is released.

use std::collections::HashMap;

use serde_json::{Map, Value, json};

use crate::objects::{
    API_VERSION, AUTHENTICATION_REQUIRED, ApiError, Behavior, CardInput, Decline, behavior, billing_details, klarna_amount_range,
    klarna_countries, new_id, now, random_alnum, test_pm_alias,
};

/// Who made the request, for auth rules and the events' `request` field.
#[derive(Clone, Debug, Default)]
pub struct Req {
    pub id: Option<String>,
    pub idempotency_key: Option<String>,
    pub publishable: bool,
}

/// What Stripe knows about a PaymentMethod but does not show.
struct PmMeta {
    /// The card's raw data; `None` for a redirect method (Klarna).
    card: Option<CardInput>,
    /// Used once without being attached to a customer: Stripe refuses reuse.
    consumed: bool,
    /// Successfully set up with `setup_future_usage`: 4000002500003155 then
    /// needs no authentication off-session.
    set_up: bool,
}

#[derive(Default)]
struct PiMeta {
    off_session: bool,
    return_url: Option<String>,
}

pub struct Store {
    pub base_url: String,
    pub webhook_url: Option<String>,
    /// Every object, oldest first. Linear scans are fine at test scale and
    /// keep creation order for lists.
    objects: Vec<Value>,
    pub events: Vec<Value>,
    pub attempts: Vec<(String, u16)>,
    /// (API key, Idempotency-Key) → saved response.
    pub idempotency: HashMap<(String, String), Saved>,
    /// Events (with their target URL) waiting to be pushed.
    pub outbox: Vec<(String, Value)>,
    pm_meta: HashMap<String, PmMeta>,
    pi_meta: HashMap<String, PiMeta>,
}

pub struct Saved {
    pub fingerprint: Vec<u8>,
    pub request_id: String,
    pub status: u16,
    pub body: Vec<u8>,
}

type Result<T> = std::result::Result<T, ApiError>;

// ---- parameter helpers -------------------------------------------------

fn s(p: &Value, key: &str) -> Option<String> {
    p.get(key).and_then(Value::as_str).filter(|v| !v.is_empty()).map(str::to_owned)
}

fn int(p: &Value, key: &str) -> Result<Option<i64>> {
    match p.get(key).and_then(Value::as_str) {
        None => Ok(None),
        Some(v) => {
            v.trim().parse().map(Some).map_err(|_| {
                ApiError::invalid(&format!("Invalid integer: {v}")).with("code", "parameter_invalid_integer").with("param", key)
            })
        }
    }
}

fn boolean(p: &Value, key: &str) -> Result<Option<bool>> {
    match p.get(key).and_then(Value::as_str) {
        None => Ok(None),
        Some("true") => Ok(Some(true)),
        Some("false") => Ok(Some(false)),
        Some(v) => Err(ApiError::invalid_param(key, &format!("Invalid boolean: {v}"))),
    }
}

/// `off_session` is `true|false|one_off|recurring`.
fn off_session(p: &Value) -> Result<bool> {
    match p.get("off_session").and_then(Value::as_str) {
        Some("one_off") | Some("recurring") => Ok(true),
        _ => Ok(boolean(p, "off_session")?.unwrap_or(false)),
    }
}

fn metadata(p: &Value) -> Map<String, Value> {
    let mut out = Map::new();
    if let Some(Value::Object(m)) = p.get("metadata") {
        for (k, v) in m {
            if v.as_str().is_some_and(|v| !v.is_empty()) {
                out.insert(k.clone(), v.clone());
            }
        }
    }
    out
}

/// Stripe's update semantics: keys merge, an empty value deletes.
fn merge_metadata(target: &mut Value, p: &Value) {
    if let Some(Value::Object(m)) = p.get("metadata") {
        let meta = target["metadata"].as_object_mut().expect("metadata is an object");
        for (k, v) in m {
            match v.as_str() {
                Some("") | None => meta.remove(k),
                Some(_) => meta.insert(k.clone(), v.clone()),
            };
        }
    }
}

fn list(url: &str, items: Vec<Value>, p: &Value) -> Result<Value> {
    let limit = int(p, "limit")?.unwrap_or(10);
    if !(1..=100).contains(&limit) {
        return Err(ApiError::invalid_param("limit", "This value must be between 1 and 100."));
    }
    let mut items = items;
    if let Some(after) = s(p, "starting_after") {
        let pos = items.iter().position(|o| o["id"] == after.as_str());
        items = pos.map(|i| items.split_off(i + 1)).unwrap_or_default();
    }
    let has_more = items.len() > limit as usize;
    items.truncate(limit as usize);
    Ok(json!({ "object": "list", "data": items, "has_more": has_more, "url": url }))
}

fn money(amount: i64, currency: &str) -> String {
    format!("{}{}.{:02}", if currency == "usd" { "$" } else { "" }, amount / 100, amount % 100)
}

impl Store {
    pub fn new(base_url: String, webhook_url: Option<String>) -> Self {
        Store {
            base_url,
            webhook_url,
            objects: Vec::new(),
            events: Vec::new(),
            attempts: Vec::new(),
            idempotency: HashMap::new(),
            outbox: Vec::new(),
            pm_meta: HashMap::new(),
            pi_meta: HashMap::new(),
        }
    }

    fn get(&self, id: &str) -> Option<&Value> {
        self.objects.iter().find(|o| o["id"] == id)
    }

    fn get_mut(&mut self, id: &str) -> &mut Value {
        self.objects.iter_mut().find(|o| o["id"] == id).expect("object exists")
    }

    /// Look up an object of a given `object` type or 404 like Stripe.
    fn find(&self, object: &str, id: &str, param: Option<&str>) -> Result<Value> {
        let kind = match object {
            "payment_intent" => "payment_intent",
            "payment_method" => "PaymentMethod",
            other => other,
        };
        self.get(id).filter(|o| o["object"] == object).cloned().ok_or_else(|| ApiError::no_such(kind, id, param))
    }

    /// Newest first, like every Stripe list.
    fn all(&self, object: &str, filter: impl Fn(&Value) -> bool) -> Vec<Value> {
        self.objects.iter().rev().filter(|o| o["object"] == object && filter(o)).cloned().collect()
    }

    fn emit(&mut self, req: &Req, type_: &str, object: Value, previous: Option<Value>) {
        let mut data = json!({ "object": object });
        if let Some(previous) = previous {
            data["previous_attributes"] = previous;
        }
        let event = json!({
            "id": new_id("evt"),
            "object": "event",
            "api_version": API_VERSION,
            "created": now(),
            "data": data,
            "livemode": false,
            "pending_webhooks": if self.webhook_url.is_some() { 1 } else { 0 },
            "request": { "id": req.id, "idempotency_key": req.idempotency_key },
            "type": type_,
        });
        self.events.push(event.clone());
        if let Some(url) = &self.webhook_url {
            self.outbox.push((url.clone(), event));
        }
    }

    pub fn webhook_delivered(&mut self, event_id: &str) {
        if let Some(e) = self.events.iter_mut().find(|e| e["id"] == event_id) {
            e["pending_webhooks"] = json!(0);
        }
    }

    /// Route one `/v1/...` request. `path` is the part after `/v1/`.
    pub fn dispatch(&mut self, req: &Req, method: &str, path: &[&str], p: &Value) -> Result<Value> {
        if req.publishable {
            self.check_publishable(method, path, p)?;
        }
        let out = match (method, path) {
            ("POST", ["customers"]) => self.create_customer(req, p),
            ("GET", ["customers"]) => {
                let email = s(p, "email");
                list("/v1/customers", self.all("customer", |c| email.is_none() || c["email"] == json!(email)), p)
            }
            ("GET", ["customers", id]) => self.find("customer", id, Some("id")),
            ("POST", ["customers", id]) => self.update_customer(req, id, p),
            ("GET", ["customers", id, "payment_methods"]) => {
                self.find("customer", id, Some("customer"))?;
                self.list_payment_methods(&format!("/v1/customers/{id}/payment_methods"), Some(id), p)
            }
            ("POST", ["payment_methods"]) => self.create_payment_method(p),
            ("GET", ["payment_methods"]) => {
                let customer = s(p, "customer");
                if let Some(c) = &customer {
                    self.find("customer", c, Some("customer"))?;
                }
                self.list_payment_methods("/v1/payment_methods", customer.as_deref(), p)
            }
            ("GET", ["payment_methods", id]) => self.find("payment_method", id, Some("payment_method")),
            ("POST", ["payment_methods", id, "attach"]) => self.attach(req, id, p),
            ("POST", ["payment_methods", id, "detach"]) => self.detach(req, id),
            ("POST", ["payment_intents"]) => self.create_payment_intent(req, p),
            ("GET", ["payment_intents"]) => {
                let customer = s(p, "customer");
                let items = self.all("payment_intent", |pi| customer.is_none() || pi["customer"] == json!(customer));
                list("/v1/payment_intents", items, p)
            }
            ("GET", ["payment_intents", id]) => self.find("payment_intent", id, Some("intent")),
            ("POST", ["payment_intents", id]) => self.update_payment_intent(id, p),
            ("POST", ["payment_intents", id, "confirm"]) => self.confirm(req, id, p),
            ("POST", ["payment_intents", id, "cancel"]) => self.cancel(req, id, p),
            ("GET", ["charges", id]) => self.find("charge", id, Some("charge")),
            ("POST", ["refunds"]) => self.create_refund(req, p),
            ("GET", ["refunds"]) => {
                let pi = s(p, "payment_intent");
                list("/v1/refunds", self.all("refund", |r| pi.is_none() || r["payment_intent"] == json!(pi)), p)
            }
            ("GET", ["refunds", id]) => self.find("refund", id, Some("refund")),
            ("GET", ["events"]) => {
                let type_ = s(p, "type");
                let matches = |e: &Value| match &type_ {
                    None => true,
                    Some(t) => match t.strip_suffix('*') {
                        Some(prefix) => e["type"].as_str().is_some_and(|et| et.starts_with(prefix)),
                        None => e["type"] == t.as_str(),
                    },
                };
                list("/v1/events", self.events.iter().rev().filter(|e| matches(e)).cloned().collect(), p)
            }
            ("GET", ["events", id]) => {
                self.events.iter().find(|e| e["id"] == *id).cloned().ok_or_else(|| ApiError::no_such("event", id, Some("id")))
            }
            _ => Err(ApiError::auth(
                404,
                &format!(
                    "Unrecognized request URL ({method}: /v1/{}). Please see https://stripe.com/docs or we can help at https://support.stripe.com/.",
                    path.join("/")
                ),
            )),
        }?;
        Ok(self.expand(out, p))
    }

    /// Stripe.js uses the publishable key for exactly these calls.
    fn check_publishable(&self, method: &str, path: &[&str], p: &Value) -> Result<()> {
        match (method, path) {
            ("POST", ["payment_methods"]) => Ok(()),
            ("GET", ["payment_intents", id]) | ("POST", ["payment_intents", id, "confirm"]) => {
                let pi = self.find("payment_intent", id, Some("intent"))?;
                match s(p, "client_secret") {
                    None => Err(ApiError::missing_param("client_secret")),
                    Some(cs) if pi["client_secret"] == cs.as_str() => Ok(()),
                    Some(_) => Err(ApiError::invalid_param(
                        "client_secret",
                        "The client_secret provided does not match the client_secret associated with the PaymentIntent.",
                    )),
                }
            }
            _ => Err(ApiError::auth(
                401,
                "This API call cannot be made with a publishable API key. Please use a secret API key. \
                 You can find a list of your API keys at https://dashboard.stripe.com/account/apikeys.",
            )),
        }
    }

    /// `expand[]=latest_charge`, `expand[]=data.customer`, `a.b` chains.
    fn expand(&self, mut v: Value, p: &Value) -> Value {
        let Some(paths) = p.get("expand").and_then(Value::as_array) else {
            return v;
        };
        for path in paths.iter().filter_map(Value::as_str) {
            let segs: Vec<&str> = path.split('.').collect();
            self.expand_path(&mut v, &segs);
        }
        v
    }

    fn expand_path(&self, v: &mut Value, segs: &[&str]) {
        let Some((head, rest)) = segs.split_first() else {
            return;
        };
        if *head == "data" && v["object"] == "list" {
            if let Some(items) = v["data"].as_array_mut() {
                items.iter_mut().for_each(|item| self.expand_path(item, rest));
            }
            return;
        }
        let Some(field) = v.get_mut(*head) else {
            return;
        };
        if let Some(found) = field.as_str().and_then(|id| self.get(id)) {
            *field = found.clone();
        }
        if field.is_object() {
            self.expand_path(field, rest);
        }
    }

    // ---- customers -----------------------------------------------------

    fn create_customer(&mut self, req: &Req, p: &Value) -> Result<Value> {
        let default_pm = p.get("invoice_settings").and_then(|i| s(i, "default_payment_method"));
        let customer = json!({
            "id": new_id("cus"),
            "object": "customer",
            "address": p.get("address").map(|_| billing_details(Some(p))["address"].clone()),
            "balance": 0,
            "created": now(),
            "currency": null,
            "default_source": null,
            "delinquent": false,
            "description": s(p, "description"),
            "discount": null,
            "email": s(p, "email"),
            "invoice_prefix": random_alnum(8).to_uppercase(),
            "invoice_settings": {
                "custom_fields": null, "default_payment_method": default_pm, "footer": null, "rendering_options": null,
            },
            "livemode": false,
            "metadata": metadata(p),
            "name": s(p, "name"),
            "next_invoice_sequence": 1,
            "phone": s(p, "phone"),
            "preferred_locales": [],
            "shipping": null,
            "tax_exempt": "none",
            "test_clock": null,
        });
        self.objects.push(customer.clone());
        self.emit(req, "customer.created", customer.clone(), None);
        Ok(customer)
    }

    fn update_customer(&mut self, req: &Req, id: &str, p: &Value) -> Result<Value> {
        let before = self.find("customer", id, Some("id"))?;
        let c = self.get_mut(id);
        for key in ["email", "name", "phone", "description"] {
            if p.get(key).is_some() {
                c[key] = json!(s(p, key));
            }
        }
        if let Some(pm) = p.get("invoice_settings").and_then(|i| i.get("default_payment_method")) {
            c["invoice_settings"]["default_payment_method"] = if pm == "" { Value::Null } else { pm.clone() };
        }
        merge_metadata(c, p);
        let after = c.clone();
        let previous: Map<String, Value> = after
            .as_object()
            .expect("object")
            .iter()
            .filter(|(k, v)| before.get(k.as_str()) != Some(v))
            .map(|(k, _)| (k.clone(), before[k.as_str()].clone()))
            .collect();
        if !previous.is_empty() {
            self.emit(req, "customer.updated", after.clone(), Some(Value::Object(previous)));
        }
        Ok(after)
    }

    // ---- payment methods -----------------------------------------------

    fn insert_card_pm(&mut self, card: CardInput, billing: Option<&Value>, meta: Map<String, Value>) -> Value {
        let pm = json!({
            "id": new_id("pm"),
            "object": "payment_method",
            "allow_redisplay": "unspecified",
            "billing_details": billing_details(billing),
            "card": card.pm_card_json(),
            "created": now(),
            "customer": null,
            "livemode": false,
            "metadata": meta,
            "radar_options": {},
            "type": "card",
        });
        let id = pm["id"].as_str().expect("id").to_owned();
        self.pm_meta.insert(id, PmMeta { card: Some(card), consumed: false, set_up: false });
        self.objects.push(pm.clone());
        pm
    }

    /// `type=card&card[...]`, or the same nested under `payment_method_data`
    /// (then `prefix` is `Some("payment_method_data")`, for error params).
    fn pm_from_params(&mut self, p: &Value, prefix: Option<&str>) -> Result<Value> {
        let name = |field: &str| match prefix {
            Some(prefix) => format!("{prefix}[{field}]"),
            None => field.to_owned(),
        };
        match p.get("type").and_then(Value::as_str) {
            None => return Err(ApiError::missing_param(&name("type"))),
            Some("card") => {}
            Some("klarna") => return self.insert_klarna_pm(p, &name),
            Some(other) => {
                return Err(ApiError::invalid_param(
                    &name("type"),
                    &format!("stripe-sim only simulates card and klarna payment methods, not `{other}`."),
                ));
            }
        }
        let card = p.get("card").ok_or_else(|| ApiError::missing_param(&name("card")))?;
        let card = CardInput::parse(card, &name("card"))?;
        Ok(self.insert_card_pm(card, p.get("billing_details"), metadata(p)))
    }

    /// A Klarna PaymentMethod: Klarna needs the customer's email and country up front (it
    /// decides what it offers by country), so Stripe refuses one without them.
    fn insert_klarna_pm(&mut self, p: &Value, name: &dyn Fn(&str) -> String) -> Result<Value> {
        let billing = p.get("billing_details");
        if billing.and_then(|b| b.get("email")).and_then(Value::as_str).is_none_or(str::is_empty) {
            return Err(ApiError::missing_param(&format!("{}[email]", name("billing_details"))));
        }
        let country = billing.and_then(|b| b.get("address")).and_then(|a| a.get("country")).and_then(Value::as_str).unwrap_or_default();
        if country.is_empty() {
            return Err(ApiError::missing_param(&format!("{}[address][country]", name("billing_details"))));
        }
        let pm = json!({
            "id": new_id("pm"),
            "object": "payment_method",
            "allow_redisplay": "unspecified",
            "billing_details": billing_details(billing),
            "created": now(),
            "customer": null,
            "klarna": { "dob": null },
            "livemode": false,
            "metadata": metadata(p),
            "radar_options": {},
            "type": "klarna",
        });
        let id = pm["id"].as_str().expect("id").to_owned();
        self.pm_meta.insert(id, PmMeta { card: None, consumed: false, set_up: false });
        self.objects.push(pm.clone());
        Ok(pm)
    }

    fn create_payment_method(&mut self, p: &Value) -> Result<Value> {
        self.pm_from_params(p, None)
    }

    /// A PaymentMethod id from a request: an existing `pm_…`, or one of
    /// Stripe's `pm_card_*` test ids (which mints a fresh PaymentMethod).
    fn resolve_pm(&mut self, id: &str, param: &str) -> Result<String> {
        if let Some(number) = test_pm_alias(id) {
            let card = CardInput { number: number.to_owned(), exp_month: 12, exp_year: 2034, cvc: Some("123".into()) };
            let pm = self.insert_card_pm(card, None, Map::new());
            return Ok(pm["id"].as_str().expect("id").to_owned());
        }
        self.find("payment_method", id, Some(param))?;
        Ok(id.to_owned())
    }

    fn list_payment_methods(&self, url: &str, customer: Option<&str>, p: &Value) -> Result<Value> {
        let type_ = s(p, "type");
        let items = self.all("payment_method", |pm| {
            customer.is_none_or(|c| pm["customer"] == c) && type_.as_ref().is_none_or(|t| pm["type"] == t.as_str())
        });
        list(url, items, p)
    }

    fn attach(&mut self, req: &Req, id: &str, p: &Value) -> Result<Value> {
        let customer = s(p, "customer").ok_or_else(|| ApiError::missing_param("customer"))?;
        self.find("customer", &customer, Some("customer"))?;
        let id = self.resolve_pm(id, "payment_method")?;
        let pm = self.find("payment_method", &id, Some("payment_method"))?;
        if pm["customer"] == customer.as_str() {
            return Ok(pm);
        }
        if !pm["customer"].is_null() {
            return Err(ApiError::invalid("The payment method you provided has already been attached to a customer."));
        }
        if self.pm_meta[&id].consumed {
            return Err(consumed_error());
        }
        Ok(self.attach_unchecked(req, &id, &customer))
    }

    fn attach_unchecked(&mut self, req: &Req, pm_id: &str, customer: &str) -> Value {
        let pm = self.get_mut(pm_id);
        pm["customer"] = json!(customer);
        let pm = pm.clone();
        self.emit(req, "payment_method.attached", pm.clone(), None);
        pm
    }

    fn detach(&mut self, req: &Req, id: &str) -> Result<Value> {
        let pm = self.find("payment_method", id, Some("payment_method"))?;
        if pm["customer"].is_null() {
            return Err(ApiError::invalid("The payment method you provided is not attached to a customer so detachment is impossible."));
        }
        let pm = self.get_mut(id);
        let previous = json!({ "customer": pm["customer"].take() });
        let pm = pm.clone();
        self.pm_meta.get_mut(id).expect("meta").consumed = true;
        self.emit(req, "payment_method.detached", pm.clone(), Some(previous));
        Ok(pm)
    }

    /// Stripe's rules for reusing a PaymentMethod with a given customer.
    fn check_pm_usable(&self, pm_id: &str, customer: Option<&str>) -> Result<()> {
        let pm = self.get(pm_id).expect("resolved pm");
        match (pm["customer"].as_str(), customer) {
            (Some(owner), Some(c)) if owner != c => Err(ApiError::invalid_param(
                "payment_method",
                &format!("The provided PaymentMethod belongs to a different Customer ({owner}) than the PaymentIntent ({c})."),
            )),
            (Some(owner), None) => Err(ApiError::invalid_param(
                "customer",
                &format!(
                    "The provided PaymentMethod is attached to Customer {owner}. Please include the Customer in the `customer` parameter on the PaymentIntent."
                ),
            )),
            (None, _) if self.pm_meta[pm_id].consumed => Err(consumed_error()),
            _ => Ok(()),
        }
    }

    // ---- payment intents -----------------------------------------------

    fn create_payment_intent(&mut self, req: &Req, p: &Value) -> Result<Value> {
        let amount = int(p, "amount")?.ok_or_else(|| ApiError::missing_param("amount"))?;
        let currency = s(p, "currency").ok_or_else(|| ApiError::missing_param("currency"))?.to_lowercase();
        if currency.len() != 3 {
            return Err(ApiError::invalid_param("currency", &format!("Invalid currency: {currency}.")));
        }
        let minimum = match currency.as_str() {
            "usd" | "eur" | "cad" | "aud" | "chf" | "nzd" | "sgd" => 50,
            "gbp" => 30,
            _ => 1,
        };
        if amount < minimum {
            return Err(ApiError::invalid(&format!("Amount must be at least {} {currency}", money(minimum, &currency)))
                .with("code", "amount_too_small")
                .with("param", "amount"));
        }
        let customer = s(p, "customer");
        if let Some(c) = &customer {
            self.find("customer", c, Some("customer"))?;
        }
        let sfu = setup_future_usage(p)?;
        let confirm = boolean(p, "confirm")?.unwrap_or(false);
        let off_session = off_session(p)?;
        if p.get("off_session").is_some() && !confirm {
            return Err(ApiError::invalid_param("off_session", "You may only specify `off_session` when `confirm` is true."));
        }
        let return_url = s(p, "return_url");
        if return_url.is_some() && !confirm {
            return Err(ApiError::invalid_param("return_url", "You may only specify `return_url` when `confirm` is true."));
        }
        let capture_method = match s(p, "capture_method").as_deref() {
            None | Some("automatic_async") => "automatic_async",
            Some("automatic") => "automatic",
            Some(other) => {
                return Err(ApiError::invalid_param("capture_method", &format!("stripe-sim does not simulate capture_method={other}.")));
            }
        };
        let confirmation_method = match s(p, "confirmation_method").as_deref() {
            None | Some("automatic") => "automatic",
            Some("manual") => "manual",
            Some(other) => {
                return Err(ApiError::invalid_param("confirmation_method", &format!("Invalid confirmation_method: {other}")));
            }
        };
        // Explicit types switch automatic payment methods off, as on Stripe;
        // otherwise Stripe's default since 2023-08-16 applies. Newer API
        // versions (the one async-stripe rc.10 targets) name the parameter
        // `allowed_payment_method_types`; older ones and Stripe.js users send
        // `payment_method_types`. Cards and Klarna are simulated; automatic payment methods
        // mean cards only here.
        let allowed = p.get("allowed_payment_method_types").and_then(Value::as_array).cloned();
        let explicit = allowed.clone().or_else(|| p.get("payment_method_types").and_then(Value::as_array).cloned());
        let (automatic, config) = match &explicit {
            Some(_) => (Value::Null, Value::Null),
            None => (json!({ "allow_redirects": "always", "enabled": true }), json!({ "id": new_id("pmc"), "parent": null })),
        };
        let types: Vec<String> = match &explicit {
            Some(list) => list.iter().filter_map(Value::as_str).map(str::to_owned).collect(),
            None => vec!["card".to_owned()],
        };
        if types.is_empty() || types.iter().any(|t| t != "card" && t != "klarna") {
            return Err(ApiError::invalid_param("payment_method_types", "stripe-sim only simulates `card` and `klarna` payments."));
        }
        if types.iter().any(|t| t == "klarna") {
            check_klarna_amount(amount, &currency)?;
        }
        // Resolve the payment method before creating anything, so a bad one
        // fails the whole request like on Stripe.
        let pm_id = match (s(p, "payment_method"), p.get("payment_method_data")) {
            (Some(id), _) => Some(self.resolve_pm(&id, "payment_method")?),
            (None, Some(data)) => Some(self.pm_from_params(data, Some("payment_method_data"))?["id"].as_str().expect("id").to_owned()),
            (None, None) => None,
        };
        if let Some(pm) = &pm_id {
            self.check_pm_usable(pm, customer.as_deref())?;
            self.check_pm_allowed(pm, &types, &currency)?;
        }
        if confirm && pm_id.is_none() {
            return Err(missing_pm_error());
        }
        if let (true, Some(pm)) = (confirm, &pm_id) {
            self.check_redirect(pm, off_session, return_url.as_deref())?;
        }
        let id = new_id("pi");
        let pi = json!({
            "id": id,
            "object": "payment_intent",
            "amount": amount,
            "amount_capturable": 0,
            "amount_details": { "tip": {} },
            "allowed_payment_method_types": allowed,
            "amount_received": 0,
            "application": null,
            "application_fee_amount": null,
            "automatic_payment_methods": automatic,
            "canceled_at": null,
            "cancellation_reason": null,
            "capture_method": capture_method,
            "client_secret": format!("{id}_secret_{}", random_alnum(25)),
            "confirmation_method": confirmation_method,
            "created": now(),
            "currency": currency,
            "customer": customer,
            "description": s(p, "description"),
            "excluded_payment_method_types": p.get("excluded_payment_method_types").and_then(Value::as_array),
            "last_payment_error": null,
            "latest_charge": null,
            "livemode": false,
            "metadata": metadata(p),
            "next_action": null,
            "on_behalf_of": null,
            "payment_method": pm_id,
            "payment_method_configuration_details": config,
            "payment_method_options": payment_method_options(&types),
            "payment_method_types": types,
            "processing": null,
            "receipt_email": s(p, "receipt_email"),
            "review": null,
            "setup_future_usage": sfu,
            "shipping": null,
            "source": null,
            "statement_descriptor": s(p, "statement_descriptor"),
            "statement_descriptor_suffix": s(p, "statement_descriptor_suffix"),
            "status": if pm_id.is_some() { "requires_confirmation" } else { "requires_payment_method" },
            "transfer_data": null,
            "transfer_group": null,
        });
        self.objects.push(pi.clone());
        self.pi_meta.insert(id.clone(), PiMeta { off_session, return_url });
        self.emit(req, "payment_intent.created", pi.clone(), None);
        if confirm { self.attempt(req, &id) } else { Ok(pi) }
    }

    fn update_payment_intent(&mut self, id: &str, p: &Value) -> Result<Value> {
        let pi = self.find("payment_intent", id, Some("intent"))?;
        if !matches!(pi["status"].as_str(), Some("requires_payment_method" | "requires_confirmation" | "requires_action")) {
            return Err(ApiError::unexpected_state(&format!(
                "This PaymentIntent's amount could not be updated because it has a status of {}.",
                pi["status"].as_str().unwrap_or_default()
            )));
        }
        let amount = int(p, "amount")?;
        let sfu = if p.get("setup_future_usage").is_some() { Some(setup_future_usage(p)?) } else { None };
        let pm_id = match s(p, "payment_method") {
            Some(pm) => Some(self.resolve_pm(&pm, "payment_method")?),
            None => None,
        };
        let customer = s(p, "customer").or_else(|| pi["customer"].as_str().map(str::to_owned));
        if let Some(c) = s(p, "customer") {
            self.find("customer", &c, Some("customer"))?;
        }
        if let Some(pm) = &pm_id {
            self.check_pm_usable(pm, customer.as_deref())?;
        }
        let pi = self.get_mut(id);
        if let Some(a) = amount {
            pi["amount"] = json!(a);
        }
        if let Some(sfu) = sfu {
            pi["setup_future_usage"] = sfu;
        }
        if let Some(pm) = pm_id {
            pi["payment_method"] = json!(pm);
            pi["status"] = json!("requires_confirmation");
        }
        pi["customer"] = json!(customer);
        for key in ["description", "receipt_email", "statement_descriptor", "statement_descriptor_suffix"] {
            if p.get(key).is_some() {
                pi[key] = json!(s(p, key));
            }
        }
        merge_metadata(pi, p);
        Ok(pi.clone())
    }

    fn confirm(&mut self, req: &Req, id: &str, p: &Value) -> Result<Value> {
        let pi = self.find("payment_intent", id, Some("intent"))?;
        match pi["status"].as_str().unwrap_or_default() {
            "requires_payment_method" | "requires_confirmation" | "requires_action" => {}
            "succeeded" => {
                return Err(ApiError::unexpected_state(
                    "You cannot confirm this PaymentIntent because it has already succeeded after being previously confirmed.",
                )
                .with("payment_intent", pi));
            }
            status => {
                return Err(ApiError::unexpected_state(&format!(
                    "You cannot confirm this PaymentIntent because it has a status of {status}."
                ))
                .with("payment_intent", pi));
            }
        }
        let sfu = if p.get("setup_future_usage").is_some() { Some(setup_future_usage(p)?) } else { None };
        let off_session = off_session(p)?;
        let pm_id = match (s(p, "payment_method"), p.get("payment_method_data")) {
            (Some(pm), _) => Some(self.resolve_pm(&pm, "payment_method")?),
            (None, Some(data)) => Some(self.pm_from_params(data, Some("payment_method_data"))?["id"].as_str().expect("id").to_owned()),
            (None, None) => pi["payment_method"].as_str().map(str::to_owned),
        };
        let Some(pm_id) = pm_id else {
            return Err(missing_pm_error());
        };
        self.check_pm_usable(&pm_id, pi["customer"].as_str())?;
        let types: Vec<String> =
            pi["payment_method_types"].as_array().into_iter().flatten().filter_map(Value::as_str).map(str::to_owned).collect();
        self.check_pm_allowed(&pm_id, &types, pi["currency"].as_str().unwrap_or_default())?;
        self.check_redirect(&pm_id, off_session, s(p, "return_url").as_deref())?;

        let pi = self.get_mut(id);
        pi["payment_method"] = json!(pm_id);
        if let Some(sfu) = sfu {
            pi["setup_future_usage"] = sfu;
        }
        if let Some(email) = s(p, "receipt_email") {
            pi["receipt_email"] = json!(email);
        }
        let meta = self.pi_meta.entry(id.to_owned()).or_default();
        meta.off_session = off_session;
        meta.return_url = s(p, "return_url");
        self.attempt(req, id)
    }

    /// One charge attempt with the PaymentIntent's payment method.
    fn attempt(&mut self, req: &Req, id: &str) -> Result<Value> {
        let pm_id = self.get(id).expect("pi")["payment_method"].as_str().expect("pm set").to_owned();
        let meta = &self.pm_meta[&pm_id];
        let off_session = self.pi_meta.get(id).is_some_and(|m| m.off_session);
        let Some(card) = &meta.card else {
            // Klarna: the customer approves on Klarna's page, then comes back to `return_url`.
            let next_action = self.redirect_action(id, "klarna", "authorize");
            return Ok(self.await_customer(req, id, next_action));
        };
        let needs_auth = match behavior(&card.number) {
            Behavior::Decline(d) => return Err(self.decline(req, id, d)),
            Behavior::Succeed => false,
            Behavior::AuthAlways => true,
            Behavior::AuthUnlessSetUp => !(off_session && meta.set_up),
        };
        if !needs_auth {
            return Ok(self.succeed(req, id, false));
        }
        if off_session {
            // The customer is not there to authenticate: Stripe declines.
            return Err(self.decline(req, id, AUTHENTICATION_REQUIRED));
        }
        let next_action = self.next_action(id);
        Ok(self.await_customer(req, id, next_action))
    }

    /// The intent waits for the customer to act (3-D Secure, Klarna's page).
    fn await_customer(&mut self, req: &Req, id: &str, next_action: Value) -> Value {
        let pi = self.get_mut(id);
        pi["status"] = json!("requires_action");
        pi["next_action"] = next_action;
        pi["last_payment_error"] = Value::Null;
        let pi = pi.clone();
        self.emit(req, "payment_intent.requires_action", pi.clone(), None);
        pi
    }

    /// `redirect_to_url` when the confirm gave a `return_url`, otherwise
    /// `use_stripe_sdk` (what Stripe.js handles in place). Both point at the
    /// sim's challenge page.
    fn next_action(&self, id: &str) -> Value {
        if self.pi_meta.get(id).is_some_and(|m| m.return_url.is_some()) {
            return self.redirect_action(id, "3ds", "challenge");
        }
        let pi = self.get(id).expect("pi");
        let secret = pi["client_secret"].as_str().expect("secret");
        let url = format!("{}/_sim/3ds/{id}/challenge?client_secret={secret}", self.base_url);
        json!({
            "type": "use_stripe_sdk",
            "use_stripe_sdk": { "type": "three_d_secure_redirect", "stripe_js": url, "source": new_id("src") }
        })
    }

    /// `redirect_to_url` to one of the sim's pages (`/_sim/{area}/{pi}/{page}`), which sends
    /// the customer back to the confirm's `return_url`.
    fn redirect_action(&self, id: &str, area: &str, page: &str) -> Value {
        let pi = self.get(id).expect("pi");
        let secret = pi["client_secret"].as_str().expect("secret");
        let return_url = self.pi_meta.get(id).and_then(|m| m.return_url.clone()).unwrap_or_default();
        let mut url = format!("{}/_sim/{area}/{id}/{page}?client_secret={secret}&return_url=", self.base_url);
        url.extend(form_urlencoded::byte_serialize(return_url.as_bytes()));
        json!({ "type": "redirect_to_url", "redirect_to_url": { "return_url": return_url, "url": url } })
    }

    fn is_klarna(&self, pm_id: &str) -> bool {
        self.pm_meta.get(pm_id).is_some_and(|m| m.card.is_none())
    }

    /// The PaymentMethod's type must be one the PaymentIntent takes, and a Klarna payer's
    /// country must pay in the intent's currency.
    fn check_pm_allowed(&self, pm_id: &str, types: &[String], currency: &str) -> Result<()> {
        let pm = self.get(pm_id).expect("resolved pm");
        let type_ = pm["type"].as_str().unwrap_or_default();
        if !types.iter().any(|t| t == type_) {
            return Err(ApiError::invalid_param(
                "payment_method",
                &format!(
                    "The PaymentMethod provided ({type_}) is not allowed for this PaymentIntent. Please attach a PaymentMethod \
                     of one of the following types: {}. Alternatively, update the allowed payment_method_types for this \
                     PaymentIntent to include \"{type_}\".",
                    types.join(", ")
                ),
            ));
        }
        if type_ == "klarna" {
            let country = pm["billing_details"]["address"]["country"].as_str().unwrap_or_default().to_ascii_uppercase();
            if !klarna_countries(currency).is_some_and(|c| c.contains(&country.as_str())) {
                return Err(ApiError::invalid_param(
                    "payment_method_data[billing_details][address][country]",
                    &format!("Klarna doesn't take {} payments from customers in {country}.", currency.to_uppercase()),
                ));
            }
        }
        Ok(())
    }

    /// A redirect method needs the customer present and a page to come back to.
    fn check_redirect(&self, pm_id: &str, off_session: bool, return_url: Option<&str>) -> Result<()> {
        if !self.is_klarna(pm_id) {
            return Ok(());
        }
        if off_session {
            return Err(ApiError::invalid_param("off_session", "Klarna payments need the customer present: off_session isn't supported."));
        }
        match return_url {
            Some(url) if url.starts_with("https://") || url.starts_with("http://") => Ok(()),
            Some(_) => Err(ApiError::invalid_param("return_url", "Not a valid URL")),
            None => Err(ApiError::invalid_param(
                "return_url",
                "A `return_url` must be specified because this payment method (klarna) redirects the customer.",
            )),
        }
    }

    fn succeed(&mut self, req: &Req, id: &str, three_ds: bool) -> Value {
        let pi = self.get(id).expect("pi").clone();
        let pm_id = pi["payment_method"].as_str().expect("pm").to_owned();
        let charge = self.charge(&pi, &pm_id, None, three_ds);
        let charge_id = charge["id"].clone();
        self.objects.push(charge.clone());

        // setup_future_usage + customer: Stripe attaches the card and marks
        // it as set up; a card used without a customer is spent.
        let owner = self.get(&pm_id).expect("pm")["customer"].clone();
        match (pi["setup_future_usage"].is_string(), pi["customer"].as_str()) {
            (true, Some(customer)) => {
                if owner.is_null() {
                    self.attach_unchecked(req, &pm_id, customer);
                }
                self.pm_meta.get_mut(&pm_id).expect("meta").set_up = true;
            }
            _ if owner.is_null() => self.pm_meta.get_mut(&pm_id).expect("meta").consumed = true,
            _ => {}
        }
        let pm = self.get_mut(&pm_id);
        if pm["type"] == "card" && pm["card"]["checks"]["cvc_check"] == "unchecked" {
            pm["card"]["checks"]["cvc_check"] = json!("pass");
        }

        let p = self.get_mut(id);
        p["status"] = json!("succeeded");
        p["amount_received"] = p["amount"].clone();
        p["latest_charge"] = charge_id;
        p["next_action"] = Value::Null;
        p["last_payment_error"] = Value::Null;
        let pi = p.clone();
        self.emit(req, "charge.succeeded", charge, None);
        self.emit(req, "payment_intent.succeeded", pi.clone(), None);
        pi
    }

    /// A declined attempt: failed charge, PI back to requires_payment_method,
    /// and the 402 error Stripe returns (with the PI inside).
    fn decline(&mut self, req: &Req, id: &str, d: Decline) -> ApiError {
        let pi = self.get(id).expect("pi").clone();
        let pm_id = pi["payment_method"].as_str().expect("pm").to_owned();
        let charge = self.charge(&pi, &pm_id, Some(d), false);
        self.objects.push(charge.clone());
        let pm = self.get(&pm_id).expect("pm").clone();
        let error = ApiError::decline(d).with("charge", charge["id"].clone()).with("payment_method", pm);
        let p = self.get_mut(id);
        p["status"] = json!("requires_payment_method");
        p["payment_method"] = Value::Null;
        p["latest_charge"] = charge["id"].clone();
        p["next_action"] = Value::Null;
        p["last_payment_error"] = error.error.clone();
        let pi = p.clone();
        self.emit(req, "charge.failed", charge, None);
        self.emit(req, "payment_intent.payment_failed", pi.clone(), None);
        error.with("payment_intent", pi)
    }

    /// What the customer does on the 3-D Secure challenge or on Klarna's page
    /// (browser buttons or `SimHandle::complete_3ds`).
    pub fn complete_3ds(&mut self, id: &str, success: bool, client_secret: Option<&str>) -> Result<Value> {
        let pi = self.find("payment_intent", id, Some("intent"))?;
        if let Some(cs) = client_secret
            && pi["client_secret"] != cs
        {
            return Err(ApiError::invalid_param("client_secret", "The client_secret provided does not match this PaymentIntent."));
        }
        if pi["status"] != "requires_action" {
            return Err(ApiError::unexpected_state(&format!(
                "PaymentIntent {id} has status {}, not requires_action: there is no 3-D Secure challenge to complete.",
                pi["status"].as_str().unwrap_or_default()
            )));
        }
        // Not caused by an API request: Stripe leaves `request.id` null.
        let req = Req::default();
        let pm_id = pi["payment_method"].as_str().expect("pm").to_owned();
        let klarna = self.is_klarna(&pm_id);
        if success {
            return Ok(self.succeed(&req, id, !klarna));
        }
        let pm = self.get(&pm_id).expect("pm").clone();
        let message = if klarna {
            "The customer did not approve the Klarna payment. You can provide payment_method_data or a new \
             PaymentMethod to attempt to fulfill this PaymentIntent again."
        } else {
            "The provided PaymentMethod has failed authentication. You can provide payment_method_data or a new \
             PaymentMethod to attempt to fulfill this PaymentIntent again."
        };
        let error = ApiError::invalid(message).with("code", "payment_intent_authentication_failure").with("payment_method", pm);
        let p = self.get_mut(id);
        p["status"] = json!("requires_payment_method");
        p["payment_method"] = Value::Null;
        p["next_action"] = Value::Null;
        p["last_payment_error"] = error.error;
        let pi = p.clone();
        self.emit(&req, "payment_intent.payment_failed", pi.clone(), None);
        Ok(pi)
    }

    fn cancel(&mut self, req: &Req, id: &str, p: &Value) -> Result<Value> {
        let pi = self.find("payment_intent", id, Some("intent"))?;
        let status = pi["status"].as_str().unwrap_or_default();
        if matches!(status, "succeeded" | "canceled") {
            return Err(ApiError::unexpected_state(&format!(
                "You cannot cancel this PaymentIntent because it has a status of {status}. Only a PaymentIntent with one of \
                 the following statuses may be canceled: requires_payment_method, requires_capture, requires_confirmation, \
                 requires_action, processing."
            ))
            .with("payment_intent", pi));
        }
        let reason = match s(p, "cancellation_reason").as_deref() {
            None => None,
            Some(r @ ("duplicate" | "fraudulent" | "requested_by_customer" | "abandoned")) => Some(r.to_owned()),
            Some(other) => {
                return Err(ApiError::invalid_param("cancellation_reason", &format!("Invalid cancellation_reason: {other}")));
            }
        };
        let pi = self.get_mut(id);
        pi["status"] = json!("canceled");
        pi["canceled_at"] = json!(now());
        pi["cancellation_reason"] = json!(reason);
        pi["next_action"] = Value::Null;
        let pi = pi.clone();
        self.emit(req, "payment_intent.canceled", pi.clone(), None);
        Ok(pi)
    }

    fn charge(&self, pi: &Value, pm_id: &str, decline: Option<Decline>, three_ds: bool) -> Value {
        let pm = self.get(pm_id).expect("pm");
        let ok = decline.is_none();
        let amount = pi["amount"].as_i64().expect("amount");
        let id = new_id("ch");
        let outcome = match decline {
            None => json!({
                "advice_code": null, "network_advice_code": null, "network_decline_code": null,
                "network_status": "approved_by_network", "reason": null, "risk_level": "normal",
                "risk_score": rand::random_range(0..60), "seller_message": "Payment complete.", "type": "authorized",
            }),
            Some(d) => json!({
                "advice_code": if d == AUTHENTICATION_REQUIRED { "try_again_later" } else { "do_not_try_again" },
                "network_advice_code": null, "network_decline_code": null,
                "network_status": "declined_by_network", "reason": d.decline_code, "risk_level": "normal",
                "risk_score": rand::random_range(0..60),
                "seller_message": if d.decline_code == "generic_decline" {
                    "The bank did not return any further details with this decline.".to_owned()
                } else {
                    format!("The bank returned the decline code `{}`.", d.decline_code)
                },
                "type": "issuer_declined",
            }),
        };
        let payment_method_details = match &self.pm_meta[pm_id].card {
            None => json!({
                "klarna": {
                    "location": null,
                    "payer_details": { "address": { "country": pm["billing_details"]["address"]["country"] } },
                    "payment_method_category": "pay_later",
                    "preferred_locale": null,
                    "reader": null,
                },
                "type": "klarna",
            }),
            Some(card) => {
                let brand = card.brand();
                let three_d_secure = three_ds.then(|| {
                    json!({
                        "authentication_flow": "challenge", "electronic_commerce_indicator": "05",
                        "exemption_indicator": null, "exemption_indicator_applied": false, "result": "authenticated",
                        "result_reason": null, "transaction_id": random_alnum(32).to_lowercase(), "version": "2.2.0",
                    })
                });
                json!({
                    "card": {
                        "amount_authorized": if ok { Some(amount) } else { None },
                        "authorization_code": null,
                        "brand": brand,
                        "checks": {
                            "address_line1_check": null, "address_postal_code_check": null,
                            "cvc_check": card.cvc.as_ref().map(|_| "pass"),
                        },
                        "country": "US",
                        "exp_month": card.exp_month,
                        "exp_year": card.exp_year,
                        "extended_authorization": { "status": "disabled" },
                        "fingerprint": card.fingerprint(),
                        "funding": "credit",
                        "incremental_authorization": { "status": "unavailable" },
                        "installments": null,
                        "last4": card.last4(),
                        "mandate": null,
                        "multicapture": { "status": "unavailable" },
                        "network": brand,
                        "network_token": { "used": false },
                        "network_transaction_id": format!("{:015}", rand::random_range(0..1_000_000_000_000_000u64)),
                        "overcapture": { "maximum_amount_capturable": amount, "status": "unavailable" },
                        "regulated_status": "unregulated",
                        "three_d_secure": three_d_secure,
                        "wallet": null,
                    },
                    "type": "card",
                })
            }
        };
        json!({
            "id": id,
            "object": "charge",
            "amount": amount,
            "amount_captured": if ok { amount } else { 0 },
            "amount_refunded": 0,
            "application": null,
            "application_fee": null,
            "application_fee_amount": null,
            "authorization_code": if ok && self.pm_meta[pm_id].card.is_some() { Some(format!("{:06}", rand::random_range(0..1_000_000))) } else { None },
            "balance_transaction": if ok { Some(new_id("txn")) } else { None },
            "billing_details": pm["billing_details"],
            "calculated_statement_descriptor": "STRIPE-SIM",
            "captured": ok,
            "created": now(),
            "currency": pi["currency"],
            "customer": pi["customer"],
            "description": pi["description"],
            "disputed": false,
            "failure_balance_transaction": null,
            "failure_code": decline.map(|d| d.code),
            "failure_message": decline.map(|d| d.message),
            "fraud_details": {},
            "livemode": false,
            "metadata": pi["metadata"],
            "on_behalf_of": null,
            "outcome": outcome,
            "paid": ok,
            "payment_intent": pi["id"],
            "payment_method": pm_id,
            "payment_method_details": payment_method_details,
            "radar_options": {},
            "receipt_email": pi["receipt_email"],
            "receipt_number": null,
            "receipt_url": if ok { Some(format!("{}/_sim/receipts/{id}", self.base_url)) } else { None },
            "refunded": false,
            "review": null,
            "shipping": null,
            "source": null,
            "source_transfer": null,
            "statement_descriptor": pi["statement_descriptor"],
            "statement_descriptor_suffix": pi["statement_descriptor_suffix"],
            "status": if ok { "succeeded" } else { "failed" },
            "transfer_data": null,
            "transfer_group": null,
        })
    }

    // ---- refunds -------------------------------------------------------

    fn create_refund(&mut self, req: &Req, p: &Value) -> Result<Value> {
        let charge = match (s(p, "payment_intent"), s(p, "charge")) {
            (Some(pi_id), _) => {
                let pi = self.find("payment_intent", &pi_id, Some("payment_intent"))?;
                match pi["latest_charge"].as_str() {
                    Some(ch) if pi["status"] == "succeeded" => self.find("charge", ch, Some("charge"))?,
                    _ => {
                        return Err(ApiError::invalid_param(
                            "payment_intent",
                            &format!("This PaymentIntent ({pi_id}) does not have a successful charge to refund."),
                        ));
                    }
                }
            }
            (None, Some(ch)) => self.find("charge", &ch, Some("charge"))?,
            (None, None) => {
                return Err(ApiError::invalid("One of `charge` or `payment_intent` is required."));
            }
        };
        let charge_id = charge["id"].as_str().expect("id").to_owned();
        let currency = charge["currency"].as_str().unwrap_or_default().to_owned();
        let remaining = charge["amount_captured"].as_i64().unwrap_or(0) - charge["amount_refunded"].as_i64().unwrap_or(0);
        if charge["status"] != "succeeded" {
            return Err(ApiError::invalid_param("charge", &format!("Charge {charge_id} has not succeeded and cannot be refunded.")));
        }
        if remaining <= 0 {
            return Err(
                ApiError::invalid(&format!("Charge {charge_id} has already been refunded.")).with("code", "charge_already_refunded")
            );
        }
        let amount = int(p, "amount")?.unwrap_or(remaining);
        if amount <= 0 {
            return Err(ApiError::invalid_param("amount", "Refund amount must be positive."));
        }
        if amount > remaining {
            return Err(ApiError::invalid_param(
                "amount",
                &format!(
                    "Refund amount ({}) is greater than unrefunded amount on charge ({})",
                    money(amount, &currency),
                    money(remaining, &currency)
                ),
            ));
        }
        let reason = match s(p, "reason").as_deref() {
            None => None,
            Some(r @ ("duplicate" | "fraudulent" | "requested_by_customer")) => Some(r.to_owned()),
            Some(other) => {
                return Err(ApiError::invalid_param("reason", &format!("Invalid reason: {other}")));
            }
        };
        let refund = json!({
            "id": new_id("re"),
            "object": "refund",
            "amount": amount,
            "balance_transaction": new_id("txn"),
            "charge": charge_id,
            "created": now(),
            "currency": currency,
            "destination_details": if charge["payment_method_details"]["type"] == "klarna" {
                json!({ "klarna": {}, "type": "klarna" })
            } else {
                json!({
                    "card": { "reference": null, "reference_status": "pending", "reference_type": "acquirer_reference_number", "type": "refund" },
                    "type": "card",
                })
            },
            "metadata": metadata(p),
            "payment_intent": charge["payment_intent"],
            "reason": reason,
            "receipt_number": null,
            "source_transfer_reversal": null,
            "status": "succeeded",
            "transfer_reversal": null,
        });
        self.objects.push(refund.clone());
        let ch = self.get_mut(&charge_id);
        let previous = json!({ "amount_refunded": ch["amount_refunded"], "refunded": ch["refunded"] });
        let refunded = ch["amount_refunded"].as_i64().unwrap_or(0) + amount;
        ch["amount_refunded"] = json!(refunded);
        ch["refunded"] = json!(refunded == ch["amount_captured"].as_i64().unwrap_or(0));
        let ch = ch.clone();
        self.emit(req, "refund.created", refund.clone(), None);
        self.emit(req, "charge.refunded", ch, Some(previous));
        Ok(refund)
    }
}

/// Klarna takes its currencies only, between its smallest and largest payment.
fn check_klarna_amount(amount: i64, currency: &str) -> Result<()> {
    if klarna_countries(currency).is_none() {
        return Err(ApiError::invalid_param(
            "payment_method_types",
            &format!(
                "The currency provided ({currency}) is invalid. Payments with klarna support the following currencies: aud, cad, \
                 chf, czk, dkk, eur, gbp, nok, nzd, pln, ron, sek, usd."
            ),
        ));
    }
    let (min, max) = klarna_amount_range(currency);
    if !(min..=max).contains(&amount) {
        return Err(ApiError::invalid_param(
            "amount",
            &format!(
                "Klarna payments in {} must be between {} and {}.",
                currency.to_uppercase(),
                money(min, currency),
                money(max, currency)
            ),
        ));
    }
    Ok(())
}

/// `payment_method_options`, one entry per payment method type the intent takes.
fn payment_method_options(types: &[String]) -> Value {
    let mut options = Map::new();
    for t in types {
        let option = match t.as_str() {
            "card" => json!({ "installments": null, "mandate_options": null, "network": null, "request_three_d_secure": "automatic" }),
            _ => json!({ "capture_method": null, "preferred_locale": null, "setup_future_usage": null }),
        };
        options.insert(t.clone(), option);
    }
    Value::Object(options)
}

fn setup_future_usage(p: &Value) -> Result<Value> {
    match p.get("setup_future_usage").and_then(Value::as_str) {
        None | Some("") => Ok(Value::Null),
        Some(v @ ("off_session" | "on_session")) => Ok(json!(v)),
        Some(other) => Err(ApiError::invalid_param(
            "setup_future_usage",
            &format!("Invalid setup_future_usage: must be one of off_session or on_session (got {other})"),
        )),
    }
}

fn missing_pm_error() -> ApiError {
    ApiError::unexpected_state(
        "You cannot confirm this PaymentIntent because it's missing a payment method. You can either update the \
         PaymentIntent with a payment method and then confirm it again, or confirm it again directly with a payment method.",
    )
    .with("param", "payment_method")
}

fn consumed_error() -> ApiError {
    ApiError::invalid_param(
        "payment_method",
        "The provided PaymentMethod was previously used with a PaymentIntent without Customer attachment, shared with \
         a connected account without Customer attachment, or was detached from a Customer. It may not be used again. \
         To use a PaymentMethod multiple times, you must attach it to a Customer first.",
    )
}
