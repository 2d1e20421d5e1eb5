//! The dialogs the user list and a user's detail share: change a limit, delete a user, and
//! the one-time display of a new key.

use std::rc::Rc;

use sycamore::prelude::*;
use tokenmeter_client::types::{UpdateLimitRequest, User};

use crate::{
    api,
    app::Session,
    format,
    ui::{Button, Input, Modal, Toasts, Tone, Variant},
};

/// The label of the change-limit field; its messages name it the same way.
const NEW_LIMIT: &str = "New token limit";

/// The change-limit dialog's state: which user, the typed value, the last error.
#[derive(Clone, Copy)]
pub(super) struct LimitDialog {
    session: Session,
    toasts: Toasts,
    open: Signal<bool>,
    user: Signal<String>,
    value: Signal<String>,
    error: Signal<Option<String>>,
    saving: Signal<bool>,
}

impl LimitDialog {
    pub(super) fn new() -> Self {
        Self {
            session: use_context::<Session>(),
            toasts: use_context::<Toasts>(),
            open: create_signal(false),
            user: create_signal(String::new()),
            value: create_signal(String::new()),
            error: create_signal(None),
            saving: create_signal(false),
        }
    }

    /// Opens the dialog for `user`, starting from their current limit.
    pub(super) fn open_for(self, user: &User) {
        self.user.set(user.user_id.clone());
        self.value.set(user.token_limit.to_string());
        self.error.set(None);
        self.open.set(true);
    }

    /// Sends the new limit; on success closes and hands the updated user to `saved`.
    fn save(self, saved: Rc<dyn Fn(User)>) {
        let limit = match format::parse_tokens(NEW_LIMIT, &self.value.get_clone()) {
            Ok(limit) => limit,
            Err(message) => return self.error.set(Some(message)),
        };
        let Some(auth) = self.session.get() else { return };
        let toasts = self.toasts;
        let id = self.user.get_clone();
        self.saving.set(true);
        sycamore::futures::spawn_local_scoped(async move {
            match auth.client.update_user_limit(&id, &UpdateLimitRequest { new_limit: limit }).await {
                Ok(updated) => {
                    self.error.set(None);
                    self.open.set(false);
                    saved(updated.into_inner().user);
                    toasts.success(format!("{id}'s limit is now {} tokens.", format::tokens(limit.get())));
                }
                Err(err) => self.error.set(Some(api::ApiError::from(err).for_form(&[("newLimit", NEW_LIMIT)]))),
            }
            self.saving.set(false);
        });
    }
}

#[component(inline_props)]
pub(super) fn ChangeLimit<F: Fn(User) + 'static>(dialog: LimitDialog, on_saved: F) -> View {
    let saved: Rc<dyn Fn(User)> = Rc::new(on_saved);
    let title = move || format!("Change {}'s limit", dialog.user.get_clone());
    view! {
        Modal(open=dialog.open, id="limit-modal", title=title) {
            form(novalidate=true, on:submit=move |e: web_sys::SubmitEvent| { e.prevent_default(); dialog.save(saved.clone()) }) {
                div(class="modal-body") {
                    Input(id="new-limit", label=NEW_LIMIT, value=dialog.value, mode="numeric",
                          help="A positive whole number. It may be below current usage.",
                          error=move || dialog.error.get_clone())
                }
                div(class="modal-footer") {
                    Button(variant=Variant::Light, on_click=move || dialog.open.set(false)) { "Cancel" }
                    Button(tone=Tone::Primary, kind="submit", loading=dialog.saving, test_id="save-limit", on_click=|| ()) { "Save limit" }
                }
            }
        }
    }
}

/// The delete dialog's state: which user, and whether the delete is on its way.
#[derive(Clone, Copy)]
pub(super) struct DeleteDialog {
    session: Session,
    toasts: Toasts,
    open: Signal<bool>,
    user: Signal<String>,
    deleting: Signal<bool>,
}

impl DeleteDialog {
    pub(super) fn new() -> Self {
        Self {
            session: use_context::<Session>(),
            toasts: use_context::<Toasts>(),
            open: create_signal(false),
            user: create_signal(String::new()),
            deleting: create_signal(false),
        }
    }

    pub(super) fn open_for(self, id: &str) {
        self.user.set(id.to_owned());
        self.open.set(true);
    }

    /// Deletes the user; on success hands their ID to `deleted`.
    fn delete(self, deleted: Rc<dyn Fn(String)>) {
        let Some(auth) = self.session.get() else { return };
        let toasts = self.toasts;
        let id = self.user.get_clone();
        self.deleting.set(true);
        sycamore::futures::spawn_local_scoped(async move {
            match auth.client.delete_user(&id).await {
                Ok(_) => {
                    toasts.success(format!("Deleted {id}."));
                    deleted(id);
                }
                Err(err) => toasts.error(api::ApiError::from(err).to_string()),
            }
            self.open.set(false);
            self.deleting.set(false);
        });
    }
}

#[component(inline_props)]
pub(super) fn DeleteUser<F: Fn(String) + 'static>(dialog: DeleteDialog, on_deleted: F) -> View {
    let deleted: Rc<dyn Fn(String)> = Rc::new(on_deleted);
    let title = move || format!("Delete {}?", dialog.user.get_clone());
    view! {
        Modal(open=dialog.open, id="delete-modal", title=title) {
            div(class="modal-body") {
                p { "Deleting " strong { (move || dialog.user.get_clone()) } " removes their usage and limit and revokes their API keys. This cannot be undone." }
            }
            div(class="modal-footer") {
                Button(variant=Variant::Light, on_click=move || dialog.open.set(false)) { "Cancel" }
                Button(tone=Tone::Danger, loading=dialog.deleting, test_id="confirm-delete", on_click=move || dialog.delete(deleted.clone())) { "Delete" }
            }
        }
    }
}

/// A key shown once: whose it is and the key itself.
#[derive(Clone, Copy)]
pub(super) struct KeyDialog {
    open: Signal<bool>,
    issued: Signal<Option<(String, String)>>,
    /// Asking "close without the key?" after a first attempt to close.
    confirming: Signal<bool>,
}

impl KeyDialog {
    pub(super) fn new() -> Self {
        Self { open: create_signal(false), issued: create_signal(None), confirming: create_signal(false) }
    }

    pub(super) fn show(self, user: String, key: String) {
        self.issued.set(Some((user, key)));
        self.confirming.set(false);
        self.open.set(true);
    }

    fn close(self) {
        self.open.set(false);
        self.confirming.set(false);
        self.issued.set(None);
    }
}

/// The one-time key: a Copy button, and closing (Done, ×, Escape, the backdrop) asks first,
/// since the key cannot be shown again.
#[component(inline_props)]
pub(super) fn IssuedKey(dialog: KeyDialog) -> View {
    let toasts = use_context::<Toasts>();
    let key = move || dialog.issued.get_clone().map(|k| k.1).unwrap_or_default();
    let user = move || dialog.issued.get_clone().map(|k| k.0).unwrap_or_default();
    let copy = move || {
        let text = key();
        sycamore::futures::spawn_local_scoped(async move {
            if api::copy_text(&text).await {
                toasts.success("The key is on the clipboard.");
            } else {
                select_key();
                toasts.error("The browser did not allow copying: the key is selected, press Ctrl+C (⌘C).");
            }
        });
    };
    let ask: Rc<dyn Fn()> = Rc::new(move || dialog.confirming.set(true));
    view! {
        Modal(open=dialog.open, id="key-modal", title="The new user's API key", on_dismiss=ask) {
            div(class="modal-body") {
                p { "This key is shown only once. Give it to " strong { (user) } "; they sign in with it." }
                div(id="issued-key", class="key-reveal", data-testid="issued-key") { (key) }
                (move || if dialog.confirming.get() { view! {
                    div(class="alert alert-warning", role="alert", data-testid="key-confirm") {
                        div {
                            strong { "Close without the key?" }
                            span { " It cannot be shown again; a lost key can only be replaced by a new one." }
                        }
                    }
                } } else { view! {} })
            }
            div(class="modal-footer") {
                (move || if dialog.confirming.get() { view! {
                    Button(variant=Variant::Light, test_id="key-keep", on_click=move || dialog.confirming.set(false)) { "Keep it open" }
                    Button(tone=Tone::Danger, test_id="key-close", on_click=move || dialog.close()) { "Close" }
                } } else { view! {
                    Button(variant=Variant::Bordered, test_id="key-copy", on_click=copy) { "Copy" }
                    Button(tone=Tone::Primary, test_id="key-done", on_click=move || dialog.confirming.set(true)) { "Done" }
                } })
            }
        }
    }
}

/// Selects the shown key, for a manual copy.
fn select_key() {
    let Some(document) = web_sys::window().and_then(|w| w.document()) else { return };
    let (Some(element), Ok(Some(selection))) = (document.get_element_by_id("issued-key"), document.get_selection())
    else {
        return;
    };
    let _ = selection.select_all_children(&element);
}
