//! A small component library rebuilding HeroUI's anatomy and design tokens (the tokens are
//! CSS custom properties in `webapp/style.css`). Pages compose these; none of them knows
//! about the API.

mod button;
mod card;
mod chart;
mod chip;
mod input;
mod modal;
mod navbar;
mod progress;
mod spinner;
mod table;
mod tabs;
mod toast;

pub use button::{Button, Size, Variant};
pub use card::{Alert, Card, CardBody, CardHeader, Stat};
pub use chart::{BarChart, Bucket, Series};
pub use chip::Chip;
pub use input::Input;
pub use modal::Modal;
pub use navbar::{NavLink, Navbar};
pub use progress::Progress;
pub use spinner::{Loading, Spinner};
pub use table::{SortHeader, Table};
pub use tabs::{Tabs, tab_id};
pub use toast::{ToastKind, Toaster, Toasts};

/// HeroUI's `color` prop: the semantic colour of a component.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Tone {
    #[default]
    Default,
    Primary,
    Secondary,
    Success,
    Warning,
    Danger,
}

impl Tone {
    pub fn name(self) -> &'static str {
        match self {
            Tone::Default => "default",
            Tone::Primary => "primary",
            Tone::Secondary => "secondary",
            Tone::Success => "success",
            Tone::Warning => "warning",
            Tone::Danger => "danger",
        }
    }
}

impl From<Tone> for sycamore::reactive::MaybeDyn<Tone> {
    fn from(tone: Tone) -> Self {
        sycamore::reactive::MaybeDyn::Static(tone)
    }
}
