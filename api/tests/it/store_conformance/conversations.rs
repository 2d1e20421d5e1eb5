//! Conversations: kept per user, newest first, every turn in order; bounded; appended to
//! concurrently without losing a turn; gone with their user, moved with a guest.

use futures::future::join_all;
use tokenmeter_api::domain::{
    Appended, ConversationId, ConversationSummary, ConversationTurn, MAX_CONVERSATION_TURNS, MAX_CONVERSATIONS, Money,
    Speaker, StoreError, Stores, TurnUsage,
};

use super::{at, every_store, id, user};

fn summary(created: i64, title: Option<&str>) -> ConversationSummary {
    ConversationSummary {
        id: ConversationId::generate(),
        title: title.map(str::to_owned),
        created_at: at(created),
        updated_at: at(created),
        turns: 0,
    }
}

fn exchange(owner: &str, conversation: &ConversationId, prompt: &str, millis: i64) -> Appended {
    let usage = TurnUsage {
        model: "m".into(),
        input_tokens: 3,
        output_tokens: 5,
        input_cost: Money::from_nanos(9_000),
        output_cost: Money::from_nanos(75_000),
    };
    Appended {
        user: id(owner),
        id: conversation.clone(),
        turns: vec![
            ConversationTurn::new(Speaker::User, prompt, at(millis), None),
            ConversationTurn::new(Speaker::Assistant, &format!("echo: {prompt}"), at(millis + 1), Some(usage)),
        ],
        title: format!("from {prompt}"),
        at: at(millis + 1),
    }
}

async fn conversations_are_kept_per_user_newest_first_with_every_turn(stores: &Stores) {
    let kept = stores.conversations.as_ref();
    stores.accounts.insert_user(&user("alice", 100, 0), None).await.unwrap();
    stores.accounts.insert_user(&user("bob", 100, 0), None).await.unwrap();
    let first = summary(10, Some("Trip"));
    let second = summary(20, None);
    kept.insert_conversation(&id("alice"), &first).await.unwrap();
    kept.insert_conversation(&id("alice"), &second).await.unwrap();
    assert_eq!(kept.conversations(&id("alice")).await.unwrap(), vec![second.clone(), first.clone()]);
    assert_eq!(kept.insert_conversation(&id("nobody"), &summary(1, None)).await, Err(StoreError::NotFound));

    // An exchange in the older one makes it the most recent; the title it had stays.
    let after = kept.append_turns(&exchange("alice", &first.id, "hello", 30)).await.unwrap();
    assert_eq!((after.turns, after.updated_at, after.title.as_deref()), (2, at(31), Some("Trip")));
    kept.append_turns(&exchange("alice", &first.id, "again", 40)).await.unwrap();
    let untitled = kept.append_turns(&exchange("alice", &second.id, "name me", 50)).await.unwrap();
    assert_eq!(untitled.title.as_deref(), Some("from name me"));
    let listed: Vec<_> = kept.conversations(&id("alice")).await.unwrap().into_iter().map(|c| c.id).collect();
    assert_eq!(listed, vec![second.id.clone(), first.id.clone()]);

    let whole = kept.conversation(&id("alice"), &first.id).await.unwrap().unwrap();
    let texts: Vec<_> = whole.turns.iter().map(|t| t.text.as_str()).collect();
    assert_eq!(texts, ["hello", "echo: hello", "again", "echo: again"]);
    assert_eq!(whole.turns[1], exchange("alice", &first.id, "hello", 30).turns[1], "a turn reads back whole");
    assert_eq!(whole.summary.turns, 4);
    assert_eq!(kept.conversation_summary(&id("alice"), &first.id).await.unwrap(), Some(whole.summary));

    // Another user's ID finds nothing, and changes nothing.
    assert_eq!(kept.conversations(&id("bob")).await.unwrap(), vec![]);
    assert_eq!(kept.conversation(&id("bob"), &first.id).await.unwrap(), None);
    assert_eq!(kept.append_turns(&exchange("bob", &first.id, "x", 60)).await, Err(StoreError::NotFound));
    assert_eq!(kept.delete_conversation(&id("bob"), &first.id).await, Err(StoreError::NotFound));

    kept.delete_conversation(&id("alice"), &first.id).await.unwrap();
    assert_eq!(kept.conversation(&id("alice"), &first.id).await.unwrap(), None);
    assert_eq!(kept.delete_conversation(&id("alice"), &first.id).await, Err(StoreError::NotFound));
    assert_eq!(kept.conversations(&id("alice")).await.unwrap().len(), 1);
}

async fn a_user_keeps_at_most_the_bounded_conversations_and_turns(stores: &Stores) {
    let kept = stores.conversations.as_ref();
    stores.accounts.insert_user(&user("carol", 100, 0), None).await.unwrap();
    let (carol, made) = (id("carol"), (0..MAX_CONVERSATIONS as i64).map(|i| summary(i, None)).collect::<Vec<_>>());
    assert!(join_all(made.iter().map(|c| kept.insert_conversation(&carol, c))).await.into_iter().all(|r| r.is_ok()));
    assert_eq!(kept.insert_conversation(&id("carol"), &summary(1_000, None)).await, Err(StoreError::Refused));
    let full = kept.conversations(&id("carol")).await.unwrap();
    assert_eq!(full.len() as u64, MAX_CONVERSATIONS);
    kept.delete_conversation(&id("carol"), &full[0].id).await.unwrap();
    kept.insert_conversation(&id("carol"), &summary(2_000, None)).await.expect("a deletion makes room");

    let long = &full[1].id;
    for i in 0..MAX_CONVERSATION_TURNS / 2 {
        kept.append_turns(&exchange("carol", long, &format!("p{i}"), 3_000 + i64::from(i))).await.unwrap();
    }
    assert_eq!(kept.append_turns(&exchange("carol", long, "one more", 9_000)).await, Err(StoreError::Refused));
    let whole = kept.conversation(&id("carol"), long).await.unwrap().unwrap();
    assert_eq!(whole.turns.len() as u32, MAX_CONVERSATION_TURNS);
    assert_eq!(whole.turns.last().unwrap().text, format!("echo: p{}", MAX_CONVERSATION_TURNS / 2 - 1));
}

async fn concurrent_appends_keep_every_exchange_whole(stores: &Stores) {
    let kept = stores.conversations.as_ref();
    stores.accounts.insert_user(&user("dana", 100, 0), None).await.unwrap();
    let conversation = summary(0, None);
    kept.insert_conversation(&id("dana"), &conversation).await.unwrap();
    let exchanges: Vec<_> = (0..8).map(|i| exchange("dana", &conversation.id, &format!("q{i}"), 100 + i)).collect();
    assert!(join_all(exchanges.iter().map(|e| kept.append_turns(e))).await.into_iter().all(|r| r.is_ok()));
    let whole = kept.conversation(&id("dana"), &conversation.id).await.unwrap().unwrap();
    assert_eq!(whole.turns.len(), 16);
    let mut prompts = Vec::new();
    for pair in whole.turns.chunks(2) {
        assert_eq!((pair[0].speaker, pair[1].speaker), (Speaker::User, Speaker::Assistant));
        assert_eq!(pair[1].text, format!("echo: {}", pair[0].text), "an exchange stays together");
        prompts.push(pair[0].text.clone());
    }
    prompts.sort();
    assert_eq!(prompts, (0..8).map(|i| format!("q{i}")).collect::<Vec<_>>());
}

async fn conversations_go_with_their_user_and_move_with_a_guest(stores: &Stores) {
    let kept = stores.conversations.as_ref();
    stores.accounts.insert_user(&user("erin", 100, 0), None).await.unwrap();
    let old = summary(0, None);
    kept.insert_conversation(&id("erin"), &old).await.unwrap();
    kept.append_turns(&exchange("erin", &old.id, "secret", 5)).await.unwrap();
    stores.accounts.delete_user(&id("erin"), at(10)).await.unwrap();
    stores.accounts.insert_user(&user("erin", 100, 20), None).await.unwrap();
    assert_eq!(kept.conversations(&id("erin")).await.unwrap(), vec![], "a re-created user starts with none");
    assert_eq!(kept.conversation(&id("erin"), &old.id).await.unwrap(), None);

    stores.accounts.insert_user(&user("guest-x1", 100, 0), None).await.unwrap();
    let chat = summary(1, None);
    kept.insert_conversation(&id("guest-x1"), &chat).await.unwrap();
    kept.append_turns(&exchange("guest-x1", &chat.id, "hi", 2)).await.unwrap();
    stores.accounts.migrate_guest(&id("guest-x1"), &user("frank", 500, 30)).await.unwrap();
    assert_eq!(kept.conversations(&id("guest-x1")).await.unwrap(), vec![]);
    let moved = kept.conversation(&id("frank"), &chat.id).await.unwrap().expect("the guest's chat moved");
    assert_eq!(moved.turns.len(), 2);
}

every_store!(
    conversations_are_kept_per_user_newest_first_with_every_turn,
    a_user_keeps_at_most_the_bounded_conversations_and_turns,
    concurrent_appends_keep_every_exchange_whole,
    conversations_go_with_their_user_and_move_with_a_guest,
);
