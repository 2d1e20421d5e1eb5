use sycamore::prelude::*;

/// What a toast reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ToastKind {
    Success,
    Error,
}

#[derive(Debug, Clone, PartialEq)]
struct Toast {
    id: u32,
    kind: ToastKind,
    text: String,
}

/// The app's toasts (HeroUI's Toast): provided once at the root, used through
/// `use_context::<Toasts>()`. Each toast closes itself after a few seconds.
#[derive(Clone, Copy)]
pub struct Toasts {
    items: Signal<Vec<Toast>>,
    next: Signal<u32>,
}

const TOAST_MS: i32 = 6000;

impl Toasts {
    pub fn new() -> Self {
        Self { items: create_signal(Vec::new()), next: create_signal(0) }
    }

    pub fn success(self, text: impl Into<String>) {
        self.push(ToastKind::Success, text.into());
    }

    pub fn error(self, text: impl Into<String>) {
        self.push(ToastKind::Error, text.into());
    }

    fn push(self, kind: ToastKind, text: String) {
        let id = self.next.get();
        self.next.set(id + 1);
        self.items.update(|items| items.push(Toast { id, kind, text }));
        // Not scoped to the page that raised it: the toast outlives a navigation.
        sycamore::futures::spawn_local(async move {
            crate::timer::sleep(TOAST_MS).await;
            self.dismiss(id);
        });
    }

    fn dismiss(self, id: u32) {
        self.items.update(|items| items.retain(|t| t.id != id));
    }
}

impl Default for Toasts {
    fn default() -> Self {
        Self::new()
    }
}

/// Where the toasts show.
#[component]
pub fn Toaster() -> View {
    let toasts = use_context::<Toasts>();
    view! {
        div(class="toasts", aria-live="polite") {
            Keyed(
                list=toasts.items,
                key=|t| t.id,
                view=move |t| {
                    let (class, role) = match t.kind {
                        ToastKind::Success => ("toast toast-success", "status"),
                        ToastKind::Error => ("toast toast-danger", "alert"),
                    };
                    let id = t.id;
                    view! {
                        div(class=class, role=role, data-testid="toast") {
                            p { (t.text) }
                            button(class="icon-btn", r#type="button", aria-label="Dismiss", on:click=move |_| toasts.dismiss(id)) { "×" }
                        }
                    }
                },
            )
        }
    }
}
