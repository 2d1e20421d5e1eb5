//! `/guests`: trying the product without an account (when the service allows guests).

use poem::web::RemoteAddr;
use poem_openapi::{ApiResponse, Object, OpenApi, payload::Json};

use super::{
    ApiTags,
    error::{ApiResult, codes},
    keys::IssuedKeyBody,
    users::UserView,
};
use crate::domain::Guests;

pub(super) struct GuestsApi {
    pub(super) guests: Guests,
}

/// A guest just created: its user and its key (shown once).
#[derive(Debug, Object)]
#[oai(rename_all = "camelCase")]
pub(super) struct NewGuestBody {
    user: UserView,
    api_key: IssuedKeyBody,
}

#[derive(ApiResponse)]
pub(super) enum GuestReply {
    /// The guest was created.
    #[oai(status = 201)]
    Created(Json<NewGuestBody>),
}

codes!(CreateGuest: ; GuestsDisabled, GuestRateLimited, StoreUnavailable);

#[OpenApi(tag = "ApiTags::Users")]
impl GuestsApi {
    /// Start as a guest
    ///
    /// Public, when the service allows guests (`TOKENMETER_GUESTS=on`; else 404
    /// `guests_disabled`). Creates a user `guest-<id>` on the `guest` tier (50 requests a day)
    /// and answers its key once. Each client address may create a few guests an hour (429
    /// `guest_rate_limited` with `Retry-After` beyond that). An admin later turns a guest into
    /// a real user with `POST /users` and `fromGuest`, keeping its usage.
    #[oai(path = "/guests", method = "post", operation_id = "createGuest")]
    async fn create(&self, remote: &RemoteAddr) -> ApiResult<GuestReply, CreateGuest> {
        let from = remote.as_socket_addr().map(|addr| addr.ip()).unwrap_or(std::net::Ipv4Addr::LOCALHOST.into());
        let guest = self.guests.create(from).await?;
        Ok(GuestReply::Created(Json(NewGuestBody { user: (&guest.user).into(), api_key: (&guest.key).into() })))
    }
}
