//! The gRPC API against a running 4-node cluster (real processes, RocksDB, loopback): every
//! RPC, subscriptions cut and resumed, a slow subscriber dropped, health and reflection, and
//! each error class with its status code.
//!
//! One cluster serves all sections (starting one costs seconds on a loaded machine); each
//! section is a function that says what it checks. Every wait is bounded.

use std::time::{Duration, Instant};

use cassia_api::convert::kv_state_key;
use cassia_api::{ApiError, BlockId, Client, certified_block_from, pb};
use cassia_crypto::keyfile;
use cassia_crypto::{Hash, Keypair};
use cassia_ledger::records::NamespaceAcl;
use cassia_ledger::{Genesis, Operation, SignedTransaction, Transaction, codec};
use cassia_tests::process::ProcessCluster;
use tonic::Code;

const WAIT: Duration = Duration::from_secs(90);
/// The test cluster's mempool cap (small, so "full" can be reached deterministically).
const MEMPOOL_CAP: usize = 16;

struct Fixture {
    cluster: ProcessCluster,
    genesis: Genesis,
    key: Keypair,
    nonce: u64,
}

impl Fixture {
    fn endpoint(&self, node: usize) -> String {
        format!("http://{}", self.cluster.nodes[node].rpc)
    }

    async fn client(&self, node: usize) -> Client {
        Client::connect(&self.endpoint(node))
            .await
            .unwrap_or_else(|e| panic!("node{node} gRPC: {e}"))
    }

    /// A signed transaction of `op`, valid for 100 blocks from `height`.
    fn sign(&mut self, op: Operation, height: u64) -> SignedTransaction {
        self.nonce += 1;
        Transaction {
            chain_id: self.genesis.chain_id.clone(),
            signer: self.key.public(),
            nonce: self.nonce,
            valid_until: height + 100,
            op,
        }
        .sign(&self.genesis.genesis_hash(), &self.key)
    }
}

fn put(namespace: &str, key: &str, value: &str) -> Operation {
    Operation::Put {
        namespace: namespace.into(),
        key: key.as_bytes().to_vec(),
        value: value.as_bytes().to_vec(),
    }
}

/// The status code of a failed call, or a panic naming what was expected.
fn code_of<T: std::fmt::Debug>(result: Result<T, ApiError>, expected: Code) -> String {
    match result {
        Err(ApiError::Status(status)) => {
            assert_eq!(status.code(), expected, "{}", status.message());
            status.message().to_string()
        }
        other => panic!("expected {expected:?}, got {other:?}"),
    }
}

#[test]
fn every_rpc_against_a_running_cluster() {
    let cluster = ProcessCluster::start_with(4, |config| {
        config
            .replace(
                "max_transactions = 50000",
                &format!("max_transactions = {MEMPOOL_CAP}"),
            )
            .replace(
                "subscriber_timeout_ms = 10000",
                "subscriber_timeout_ms = 1000",
            )
    });
    cluster.wait_for_height(&[0, 1, 2, 3], 2, WAIT);
    let genesis: Genesis = cluster.genesis();
    let (_, key) =
        keyfile::read(&cluster.root().join("devnet/org0-admin.key"), None).expect("admin key");
    let mut fixture = Fixture {
        cluster,
        genesis,
        key,
        nonce: 0,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        namespaces_are_created_by_an_admin(&mut fixture).await;
        status_names_chain_leader_and_validators(&fixture).await;
        let committed = transactions_commit_and_read_back_with_proofs(&mut fixture).await;
        blocks_read_by_height_hash_and_latest_with_valid_certificates(&fixture, &committed).await;
        state_queries_prove_values_absence_and_history(&mut fixture).await;
        subscriptions_replay_then_follow_and_resume_without_gaps(&mut fixture).await;
        a_subscriber_that_stops_reading_is_told_and_dropped(&fixture).await;
        health_and_reflection_list_every_service(&fixture).await;
        every_rejection_has_its_status_code(&mut fixture).await;
        a_transaction_sent_ten_times_commits_once(&mut fixture).await;
        malformed_and_oversized_requests_get_errors_and_the_node_lives_on(&fixture).await;
    });
    mempool_full_and_deadline_exceeded_while_the_chain_is_stalled(&mut fixture, &runtime);
}

/// Registry writes need a namespace; org0's admin (the fixture's key) creates the ones the
/// sections use.
async fn namespaces_are_created_by_an_admin(fixture: &mut Fixture) {
    let mut client = fixture.client(0).await;
    let height = client.status().await.expect("status").height;
    for namespace in ["licences", "registry", "events", "errors", "stalled"] {
        let tx = fixture.sign(
            Operation::CreateNamespace {
                namespace: namespace.into(),
                acl: NamespaceAcl::default(),
            },
            height,
        );
        let committed = client
            .submit_and_wait(&tx, Duration::from_secs(60))
            .await
            .expect("the namespace is created");
        assert!(committed.receipt.succeeded(), "{:?}", committed.receipt);
    }
}

async fn status_names_chain_leader_and_validators(fixture: &Fixture) {
    let status = fixture.client(1).await.status().await.expect("status");
    assert_eq!(status.chain_id, fixture.genesis.chain_id);
    assert_eq!(status.genesis, fixture.genesis.genesis_hash());
    assert_eq!(status.validators.len(), 4);
    assert!(
        status.validators.contains(&status.leader),
        "leader {} is a validator",
        status.leader
    );
    assert_eq!(
        status.node_key,
        fixture.genesis.validators[1].node_key.to_hex()
    );
    assert!(status.height >= 2);
}

/// SubmitAndWait returns a receipt whose proof the client checked; GetTransaction and
/// GetReceipt on another node return the same, also proven.
async fn transactions_commit_and_read_back_with_proofs(
    fixture: &mut Fixture,
) -> cassia_api::Committed {
    let mut client = fixture.client(0).await;
    let height = client.status().await.expect("status").height;
    let tx = fixture.sign(put("licences", "GX-001", "valid"), height);
    let committed = client
        .submit_and_wait(&tx, Duration::from_secs(60))
        .await
        .expect("the transaction commits");
    assert_eq!(committed.receipt.tx_id, tx.id());
    assert!(committed.receipt.succeeded());
    let mut other = fixture.client(2).await;
    wait_until_height(&mut other, committed.header.height).await;
    let read = other.transaction(&tx.id()).await.expect("GetTransaction");
    assert_eq!(read.transaction, tx);
    assert_eq!(read.receipt, committed.receipt);
    assert_eq!(read.header, committed.header);
    let receipt = other.receipt(&tx.id()).await.expect("GetReceipt");
    assert_eq!(receipt, committed);
    code_of(other.receipt(&Hash::of(b"never")).await, Code::NotFound);
    code_of(other.transaction(&Hash::of(b"never")).await, Code::NotFound);
    committed
}

async fn rest_height(client: &mut Client) -> u64 {
    client.status().await.expect("status").height
}

async fn wait_until_height(client: &mut Client, height: u64) {
    let deadline = Instant::now() + WAIT;
    while client.status().await.expect("status").height < height {
        assert!(
            Instant::now() < deadline,
            "node did not reach height {height}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn blocks_read_by_height_hash_and_latest_with_valid_certificates(
    fixture: &Fixture,
    committed: &cassia_api::Committed,
) {
    let mut client = fixture.client(3).await;
    let height = committed.header.height;
    let by_height = client
        .block(BlockId::Height(height), false)
        .await
        .expect("GetBlock by height");
    let by_hash = client
        .block(BlockId::Hash(committed.header.hash()), false)
        .await
        .expect("GetBlock by hash");
    assert_eq!(by_height, by_hash);
    assert_eq!(by_height.block.header, committed.header);
    assert!(by_height.tx_ids.contains(&committed.receipt.tx_id));
    by_height
        .certificate
        .verify_for(
            &fixture.genesis.genesis_hash(),
            &fixture.genesis.validator_set(),
            &committed.header.hash(),
        )
        .expect("the certificate verifies against the genesis validators");
    let headers_only = client
        .block(BlockId::Height(height), true)
        .await
        .expect("headers only");
    assert!(headers_only.block.transactions.is_empty());
    assert_eq!(headers_only.tx_ids, by_height.tx_ids);
    let latest = client.latest(true).await.expect("GetLatest");
    assert!(latest.block.header.height >= height);
    code_of(
        client.block(BlockId::Height(1_000_000_000), false).await,
        Code::NotFound,
    );
    code_of(
        client.block(BlockId::Height(0), false).await,
        Code::InvalidArgument,
    );
    code_of(
        client
            .block(BlockId::Hash(Hash::of(b"nowhere")), false)
            .await,
        Code::NotFound,
    );
}

/// A value, its absence before it was written, an overwritten value at an old height, and the
/// key's history in pages: every answer's proof checked by the client against the header.
async fn state_queries_prove_values_absence_and_history(fixture: &mut Fixture) {
    let mut client = fixture.client(1).await;
    let height = client.status().await.expect("status").height;
    let first = fixture.sign(put("registry", "item-9", "v1"), height);
    let first = client
        .submit_and_wait(&first, Duration::from_secs(60))
        .await
        .expect("v1 commits");
    let second = fixture.sign(put("registry", "item-9", "v2"), first.header.height);
    let second = client
        .submit_and_wait(&second, Duration::from_secs(60))
        .await
        .expect("v2 commits");
    let key = kv_state_key("registry", b"item-9");
    let latest = client.query(key.clone(), None).await.expect("latest");
    assert_eq!(latest.value.as_deref(), Some(&b"v2"[..]));
    assert_eq!(latest.modified_height, second.header.height);
    let old = client
        .query(key.clone(), Some(first.header.height))
        .await
        .expect("at v1's height");
    assert_eq!(old.value.as_deref(), Some(&b"v1"[..]));
    assert_eq!(old.header, first.header);
    let before = client
        .query(key.clone(), Some(first.header.height - 1))
        .await
        .expect("before v1");
    assert_eq!(before.value, None, "absent before it was written (proven)");
    let missing = client
        .query(kv_state_key("registry", b"never"), None)
        .await
        .expect("absent key");
    assert_eq!(missing.value, None);
    code_of(
        client.query(key.clone(), Some(1_000_000_000)).await,
        Code::NotFound,
    );
    let mut raw = pb::state_service_client::StateServiceClient::connect(fixture.endpoint(1))
        .await
        .expect("connect");
    let status = raw
        .query(pb::QueryRequest {
            key: None,
            height: None,
        })
        .await
        .expect_err("no key");
    assert_eq!(status.code(), Code::InvalidArgument, "{}", status.message());
    let page = client.history(key.clone(), 0, 1).await.expect("history");
    assert_eq!(page.versions.len(), 1);
    assert_eq!(page.versions[0].value, b"v1");
    assert_eq!(page.next_from_height, second.header.height);
    let rest = client
        .history(key, page.next_from_height, 10)
        .await
        .expect("next page");
    assert_eq!(rest.versions.len(), 1);
    assert_eq!(rest.versions[0].value, b"v2");
    assert_eq!(rest.next_from_height, 0);
    // A namespace with a readers list answers only to signed queries of its owner's or readers'
    // accounts.
    let height = rest_height(&mut client).await;
    let sealed = fixture.sign(
        Operation::CreateNamespace {
            namespace: "sealed".into(),
            acl: NamespaceAcl {
                writers: vec![],
                readers: vec!["org1".into()],
            },
        },
        height,
    );
    client
        .submit_and_wait(&sealed, Duration::from_secs(60))
        .await
        .expect("sealed namespace");
    let secret = fixture.sign(put("sealed", "case-1", "confidential"), height);
    let secret = client
        .submit_and_wait(&secret, Duration::from_secs(60))
        .await
        .expect("sealed put");
    assert!(secret.receipt.succeeded(), "{:?}", secret.receipt);
    let sealed_key = kv_state_key("sealed", b"case-1");
    let message = code_of(
        client.query(sealed_key.clone(), None).await,
        Code::PermissionDenied,
    );
    assert!(message.contains("readable only by"), "{message}");
    let chain = fixture.genesis.genesis_hash();
    for (org, allowed) in [(0, true), (1, true), (2, false)] {
        let mut reader = fixture
            .client(1)
            .await
            .with_reader(fixture.cluster.admin_key(org), chain);
        let answer = reader.query(sealed_key.clone(), None).await;
        if allowed {
            let answer = answer.unwrap_or_else(|e| panic!("org{org} reads: {e}"));
            assert_eq!(answer.value.as_deref(), Some(&b"confidential"[..]));
        } else {
            code_of(answer, Code::PermissionDenied);
            code_of(
                reader.history(sealed_key.clone(), 0, 10).await,
                Code::PermissionDenied,
            );
        }
    }
    // A notarization is found by its digest, and a second one of the same digest commits with
    // a failed receipt.
    let digest = Hash::of(b"contract.pdf");
    let notarize = || Operation::Notarize {
        digest,
        metadata: "{\"title\":\"contract\"}".into(),
        co_signers: Vec::new(),
    };
    let height = second.header.height;
    let tx = fixture.sign(notarize(), height);
    let receipt = client
        .submit_and_wait(&tx, Duration::from_secs(60))
        .await
        .expect("notarized");
    assert!(receipt.receipt.succeeded());
    let again = fixture.sign(notarize(), height);
    let again = client
        .submit_and_wait(&again, Duration::from_secs(60))
        .await
        .expect("commits");
    assert!(!again.receipt.succeeded(), "a digest is notarized once");
    let record = client
        .query(
            pb::StateKey {
                key: Some(pb::state_key::Key::Notarization(digest.as_bytes().to_vec())),
            },
            None,
        )
        .await
        .expect("notarization");
    assert!(record.value.is_some());
}

/// Blocks replay from height 1 with parent links intact; a stream cut after height h and
/// resumed from h + 1 continues with h + 1. Events resume after (height, index).
async fn subscriptions_replay_then_follow_and_resume_without_gaps(fixture: &mut Fixture) {
    let mut client = fixture.client(2).await;
    let tip = client.status().await.expect("status").height;
    let mut stream = client.subscribe_blocks(1, true).await.expect("subscribe");
    let mut previous: Option<cassia_api::CertifiedBlock> = None;
    // Replay the history, then two blocks that commit after the subscription started.
    let cut_at = tip + 2;
    loop {
        let message = tokio::time::timeout(WAIT, stream.message())
            .await
            .expect("a block within the wait")
            .expect("stream healthy")
            .expect("stream open");
        let block = certified_block_from(&message).expect("well-formed block");
        let height = block.block.header.height;
        match &previous {
            None => assert_eq!(height, 1, "replay starts at height 1"),
            Some(previous) => {
                assert_eq!(
                    height,
                    previous.block.header.height + 1,
                    "no gap, no duplicate"
                );
                assert_eq!(block.block.header.parent, previous.block.header.hash());
            }
        }
        previous = Some(block);
        if height == cut_at {
            break;
        }
    }
    drop(stream);
    let previous = previous.expect("received blocks");
    let mut resumed = client
        .subscribe_blocks(cut_at + 1, true)
        .await
        .expect("resubscribe");
    let next = tokio::time::timeout(WAIT, resumed.message())
        .await
        .expect("a block within the wait")
        .expect("stream healthy")
        .expect("stream open");
    let next = certified_block_from(&next).expect("well-formed");
    assert_eq!(next.block.header.height, cut_at + 1);
    assert_eq!(next.block.header.parent, previous.block.header.hash());
    drop(resumed);

    // Events: two puts in namespace "events"; resuming after the first gives the second.
    let height = client.status().await.expect("status").height;
    let a = fixture.sign(put("events", "a", "1"), height);
    let b = fixture.sign(put("events", "b", "2"), height);
    let a = client
        .submit_and_wait(&a, Duration::from_secs(60))
        .await
        .expect("a");
    let b = client
        .submit_and_wait(&b, Duration::from_secs(60))
        .await
        .expect("b");
    let request = |from_height, from_index| pb::SubscribeEventsRequest {
        from_height,
        from_index,
        kind: "put".into(),
        namespace: "events".into(),
    };
    let mut events = client
        .subscribe_events(request(1, 0))
        .await
        .expect("subscribe events");
    let mut seen = Vec::new();
    while seen.len() < 2 {
        let event = tokio::time::timeout(WAIT, events.message())
            .await
            .expect("an event within the wait")
            .expect("stream healthy")
            .expect("stream open");
        assert_eq!(event.namespace, "events", "the filter holds");
        seen.push((event.height, event.index, event.tx_id));
    }
    assert_eq!(seen[0].2, a.receipt.tx_id.as_bytes().to_vec());
    assert_eq!(seen[1].2, b.receipt.tx_id.as_bytes().to_vec());
    drop(events);
    let mut resumed = client
        .subscribe_events(request(seen[0].0, seen[0].1 + 1))
        .await
        .expect("resume events");
    let event = tokio::time::timeout(WAIT, resumed.message())
        .await
        .expect("an event within the wait")
        .expect("stream healthy")
        .expect("stream open");
    assert_eq!(
        event.tx_id, seen[1].2,
        "resumes right after the last event seen"
    );
}

/// A client with a tiny HTTP/2 window that never reads: the node fills its bounded buffer,
/// waits the idle timeout (1 s here), then ends the stream with RESOURCE_EXHAUSTED naming the
/// height to resume from, which is exactly the one after the last block delivered.
async fn a_subscriber_that_stops_reading_is_told_and_dropped(fixture: &Fixture) {
    let channel = tonic::transport::Endpoint::from_shared(fixture.endpoint(0))
        .expect("endpoint")
        .initial_stream_window_size(Some(1024))
        .initial_connection_window_size(Some(1024))
        .connect()
        .await
        .expect("connect");
    let mut blocks = pb::block_service_client::BlockServiceClient::new(channel);
    let mut stream = blocks
        .subscribe_blocks(pb::SubscribeBlocksRequest {
            from_height: 1,
            headers_only: false,
        })
        .await
        .expect("subscribe")
        .into_inner();
    // Not reading, while the node has the whole history to send.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let mut last = 0;
    let deadline = Instant::now() + WAIT;
    let status = loop {
        assert!(
            Instant::now() < deadline,
            "the slow subscriber was never dropped"
        );
        match stream.message().await {
            Ok(Some(message)) => {
                last = message.header.expect("header").height;
            }
            Ok(None) => panic!("the stream ended without saying why"),
            Err(status) => break status,
        }
    };
    assert_eq!(
        status.code(),
        Code::ResourceExhausted,
        "{}",
        status.message()
    );
    assert!(
        status
            .message()
            .contains(&format!("resubscribe from height {}", last + 1)),
        "names where to resume after {last}: {}",
        status.message()
    );
}

async fn health_and_reflection_list_every_service(fixture: &Fixture) {
    let channel = tonic::transport::Endpoint::from_shared(fixture.endpoint(1))
        .expect("endpoint")
        .connect()
        .await
        .expect("connect");
    let mut health = tonic_health::pb::health_client::HealthClient::new(channel.clone());
    for service in ["", "cassia.v1.TransactionService", "cassia.v1.BlockService"] {
        let answer = health
            .check(tonic_health::pb::HealthCheckRequest {
                service: service.into(),
            })
            .await
            .unwrap_or_else(|e| panic!("health of {service:?}: {e}"))
            .into_inner();
        assert_eq!(
            answer.status,
            tonic_health::pb::health_check_response::ServingStatus::Serving as i32,
            "{service:?}"
        );
    }
    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
    let mut reflection = ServerReflectionClient::new(channel);
    let request = tonic_reflection::pb::v1::ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut responses = reflection
        .server_reflection_info(tokio_stream::once(request))
        .await
        .expect("reflection")
        .into_inner();
    let response = responses
        .message()
        .await
        .expect("reflection answers")
        .expect("one response");
    let Some(MessageResponse::ListServicesResponse(list)) = response.message_response else {
        panic!("not a service list: {response:?}");
    };
    let names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    for expected in [
        "cassia.v1.TransactionService",
        "cassia.v1.BlockService",
        "cassia.v1.StateService",
        "cassia.v1.NodeService",
        "grpc.health.v1.Health",
    ] {
        assert!(
            names.iter().any(|n| n == expected),
            "{expected} in {names:?}"
        );
    }
}

async fn every_rejection_has_its_status_code(fixture: &mut Fixture) {
    let mut client = fixture.client(0).await;
    let height = client.status().await.expect("status").height;
    let tx = fixture.sign(put("errors", "dup", "x"), height);
    let committed = client
        .submit_and_wait(&tx, Duration::from_secs(60))
        .await
        .expect("commits");
    let message = code_of(client.submit(&tx).await, Code::AlreadyExists);
    assert!(!message.is_empty());
    code_of(
        client.submit_and_wait(&tx, Duration::from_secs(5)).await,
        Code::AlreadyExists,
    );
    let mut wrong_chain = fixture.sign(put("errors", "chain", "x"), height).tx;
    wrong_chain.chain_id = "another-chain".into();
    let wrong_chain = wrong_chain.sign(&fixture.genesis.genesis_hash(), &fixture.key);
    let message = code_of(client.submit(&wrong_chain).await, Code::FailedPrecondition);
    assert!(message.contains("another-chain"), "{message}");
    // Signed by a real account for a copy of this chain (same chain id, another genesis, as a
    // staging network made from production's settings would be): it does not verify here.
    let mut staging = fixture.genesis.clone();
    staging.genesis_time_ms += 1;
    let replayed = fixture
        .sign(put("errors", "staging", "x"), height)
        .tx
        .sign(&staging.genesis_hash(), &fixture.key);
    assert_eq!(replayed.tx.chain_id, fixture.genesis.chain_id);
    let message = code_of(client.submit(&replayed).await, Code::InvalidArgument);
    assert!(message.contains("signature"), "{message}");
    let mut expired = fixture.sign(put("errors", "expired", "x"), height).tx;
    expired.valid_until = committed.header.height - 1;
    let message = code_of(
        client
            .submit(&expired.sign(&fixture.genesis.genesis_hash(), &fixture.key))
            .await,
        Code::FailedPrecondition,
    );
    assert!(
        message.contains("expired") || message.contains("valid"),
        "{message}"
    );
    // A key that is no account of any organization: refused at admission, naming why.
    let stranger = Keypair::from_secret([99; 32]);
    let denied = Transaction {
        chain_id: fixture.genesis.chain_id.clone(),
        signer: stranger.public(),
        nonce: 1,
        valid_until: height + 100,
        op: put("errors", "stranger", "x"),
    }
    .sign(&fixture.genesis.genesis_hash(), &stranger);
    let message = code_of(client.submit(&denied).await, Code::PermissionDenied);
    assert!(message.contains("not a registered account"), "{message}");
    let mut forged = fixture.sign(put("errors", "forged", "x"), height);
    forged.tx.nonce += 1;
    code_of(client.submit(&forged).await, Code::InvalidArgument);
    let huge = fixture.sign(put("errors", "huge", &"x".repeat(200_000)), height);
    code_of(client.submit(&huge).await, Code::ResourceExhausted);
}

/// The same signed transaction sent 10 times over the four nodes, 5 times before it commits
/// and 5 after: it commits exactly once (its id is in exactly one block of every node's
/// chain, with its receipt), and each send to a node that already holds it is refused
/// ALREADY_EXISTS. Before the commit, a node the gossip has not reached yet may admit it (it
/// cannot know better); it still commits once.
async fn a_transaction_sent_ten_times_commits_once(fixture: &mut Fixture) {
    const SENDS: usize = 10;
    const BEFORE_COMMIT: usize = 5;
    let height = fixture
        .client(0)
        .await
        .status()
        .await
        .expect("status")
        .height;
    let tx = fixture.sign(put("errors", "ten-times", "x"), height);
    let id = tx.id();
    let mut admitted = 0;
    for send in 0..SENDS {
        let node = send % 4;
        if send == BEFORE_COMMIT {
            wait_for_receipt_everywhere(fixture, &id).await;
        }
        let result = fixture.client(node).await.submit(&tx).await;
        match (send, result) {
            (0, result) => {
                assert_eq!(
                    result.as_ref().ok(),
                    Some(&id),
                    "the first send is admitted: {result:?}"
                );
                admitted += 1;
            }
            (1..BEFORE_COMMIT, Ok(other_node_id)) if node != 0 => {
                assert_eq!(other_node_id, id);
                admitted += 1;
            }
            (_, result) => {
                let message = code_of(result, Code::AlreadyExists);
                assert!(!message.is_empty(), "send {send} to node{node}");
            }
        }
    }
    let mut client = fixture.client(0).await;
    let tip = client.status().await.expect("status").height;
    // A few more blocks: a second inclusion, if any, would have happened by then.
    wait_until_height(&mut client, tip + 3).await;
    for node in 0..4 {
        let mut client = fixture.client(node).await;
        let mut inclusions = 0;
        for h in 1..=tip + 3 {
            let block = client
                .block(BlockId::Height(h), true)
                .await
                .unwrap_or_else(|e| panic!("node{node} block {h}: {e}"));
            inclusions += block.tx_ids.iter().filter(|tx_id| **tx_id == id).count();
        }
        assert_eq!(
            inclusions, 1,
            "node{node}: the transaction sent {SENDS} times is in {inclusions} blocks"
        );
    }
    eprintln!(
        "sent {SENDS} times: {admitted} admitted, {} ALREADY_EXISTS, in 1 block of {} on \
         each node",
        SENDS - admitted,
        tip + 3
    );
}

/// Waits (bounded) until every node has the receipt of `id`.
async fn wait_for_receipt_everywhere(fixture: &Fixture, id: &Hash) {
    let deadline = Instant::now() + WAIT;
    for node in 0..4 {
        let mut client = fixture.client(node).await;
        while let Err(error) = client.receipt(id).await {
            assert!(
                Instant::now() < deadline,
                "{id} has no receipt on node{node} within {WAIT:?}: {error}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// Raw protobuf calls with garbage, truncated and oversized payloads: each an error status;
/// the node still answers afterwards.
async fn malformed_and_oversized_requests_get_errors_and_the_node_lives_on(fixture: &Fixture) {
    let channel = tonic::transport::Endpoint::from_shared(fixture.endpoint(3))
        .expect("endpoint")
        .connect()
        .await
        .expect("connect");
    let mut transactions = pb::transaction_service_client::TransactionServiceClient::new(channel);
    for bytes in [
        vec![],
        vec![0xff; 64],
        b"not a transaction at all".to_vec(),
        codec::encode(&(1u64, 2u64)),
    ] {
        let status = transactions
            .submit(pb::SubmitRequest {
                signed_transaction: bytes,
            })
            .await
            .expect_err("garbage is refused");
        assert_eq!(status.code(), Code::InvalidArgument, "{}", status.message());
    }
    let status = transactions
        .submit(pb::SubmitRequest {
            signed_transaction: vec![7; 5 * 1024 * 1024],
        })
        .await
        .expect_err("oversized is refused");
    // Refused by the server's decoding limit (`MAX_REQUEST_BYTES`, 4 MiB) for its size, not
    // by any other failure.
    assert_eq!(status.code(), Code::OutOfRange, "{status:?}");
    assert!(
        status
            .message()
            .contains("decoded message length too large")
            && status.message().ends_with("the limit is: 4194304 bytes"),
        "{status:?}"
    );
    let mut requests = pb::transaction_service_client::TransactionServiceClient::new(
        tonic::transport::Endpoint::from_shared(fixture.endpoint(3))
            .expect("endpoint")
            .connect()
            .await
            .expect("reconnect"),
    );
    let status = requests
        .get_receipt(pb::TransactionRequest {
            tx_id: vec![1, 2, 3],
        })
        .await
        .expect_err("short id");
    assert_eq!(status.code(), Code::InvalidArgument);
    let alive = fixture
        .client(3)
        .await
        .status()
        .await
        .expect("still answers");
    assert!(alive.height > 0);
}

/// With 2 of 4 validators stopped nothing commits: SubmitAndWait answers DEADLINE_EXCEEDED
/// and a full mempool RESOURCE_EXHAUSTED; after the restart the waiting transaction commits.
fn mempool_full_and_deadline_exceeded_while_the_chain_is_stalled(
    fixture: &mut Fixture,
    runtime: &tokio::runtime::Runtime,
) {
    fixture.cluster.stop(2);
    fixture.cluster.stop(3);
    let waited = runtime.block_on(async {
        let mut client = fixture.client(0).await;
        let height = client.status().await.expect("status").height;
        let tx = fixture.sign(put("stalled", "wait", "v"), height);
        let message = code_of(
            client.submit_and_wait(&tx, Duration::from_secs(2)).await,
            Code::DeadlineExceeded,
        );
        assert!(message.contains(&tx.id().to_string()), "{message}");
        let mut full = None;
        for n in 0..=MEMPOOL_CAP {
            let tx = fixture.sign(put("stalled", &format!("k{n}"), "v"), height);
            if let Err(error) = client.submit(&tx).await {
                full = Some(error);
                break;
            }
        }
        let message = code_of::<()>(
            Err(full.expect("the mempool fills up")),
            Code::ResourceExhausted,
        );
        assert!(message.contains("full"), "{message}");
        tx.id()
    });
    fixture.cluster.restart(2);
    fixture.cluster.restart(3);
    runtime.block_on(async {
        let mut client = fixture.client(0).await;
        let deadline = Instant::now() + WAIT;
        loop {
            match client.receipt(&waited).await {
                Ok(committed) => {
                    assert!(committed.receipt.succeeded());
                    break;
                }
                Err(ApiError::Status(status)) if status.code() == Code::NotFound => {
                    assert!(
                        Instant::now() < deadline,
                        "the transaction admitted while stalled never committed"
                    );
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(error) => panic!("GetReceipt: {error}"),
            }
        }
    });
}
