//! Durability as a user sees it: the real binary, killed without warning, keeps every
//! acknowledged user, count and model charge when started again on the same data directory (embedded) or
//! the same table (DynamoDB, which the binary creates on its first start).

use tokenmeter_client::{Client, types};

use crate::{binary::start, helpers::binary_store_env};

#[tokio::test]
async fn a_killed_service_restarts_with_every_acknowledged_write_and_key() {
    let data = tempfile::tempdir().unwrap();
    let store_env = binary_store_env(data.path()).await;
    let (admin_key, user_key) = {
        let service = start(&store_env);
        let admin_key = service.printed_admin_key.clone().expect("a first start prints a generated admin key");
        let client = Client::with_api_key(&service.url, &admin_key).unwrap();
        let mut user_key = None;
        for (id, limit) in [("keep-1", 1000), ("keep-2", 2000), ("gone", 5)] {
            let request = types::CreateUserRequest { issue_key: Some(true), ..crate::helpers::new_user(id, limit) };
            let created = client.create_user(None, &request).await.unwrap().into_inner();
            user_key.get_or_insert(created.api_key.unwrap().api_key);
        }
        for _ in 0..25 {
            client.record_usage("keep-1", None, &crate::helpers::usage(4)).await.unwrap();
        }
        client.update_user_limit("keep-2", &crate::helpers::new_limit(2500)).await.unwrap();
        // A model call: its hold commits without an fsync, its settlement with one.
        let ask = crate::helpers::ask("charge me once");
        let charged = client.invoke_model("keep-2", None, &ask).await.unwrap().into_inner();
        assert_eq!(charged.tokens_consumed, 8);
        client.delete_user("gone").await.unwrap();
        (admin_key, user_key.unwrap())
    }; // SIGKILL: no graceful shutdown, no flush.

    let service = start(&store_env);
    assert_eq!(service.printed_admin_key, None, "the admin key is printed once, on the first start only");
    let own = Client::with_api_key(&service.url, &user_key).unwrap().get_user("keep-1").await.unwrap();
    assert_eq!(own.into_inner().token_usage, 100, "user keys survive restarts");
    let client = Client::with_api_key(&service.url, &admin_key).unwrap();
    let users = client.list_users().await.unwrap().into_inner().users;
    let state: Vec<_> = users.iter().map(|u| (u.user_id.as_str(), u.token_limit, u.token_usage)).collect();
    assert_eq!(state, [("keep-1", 1000, 100), ("keep-2", 2500, 8)]);
    let charged = client.get_user("keep-2").await.unwrap().into_inner();
    assert_eq!(
        (charged.total_cost, charged.remaining_tokens),
        (0.000072, 2492),
        "the call's charge survives, its hold is gone"
    );
}
