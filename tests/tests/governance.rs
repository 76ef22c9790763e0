//! Validator-set changes by governance, with real processes under a transaction load: a 5th
//! validator is proposed, approved by more than 2/3 of the organizations, catches up, proves it
//! (ValidatorReady) and joins; it then votes (the chain keeps committing with one original
//! validator stopped, which needs its vote). Then an original validator is removed: the chain
//! keeps committing and the removed node is refused. Size limits changed by governance take
//! effect on the running nodes at their height, in both directions. Every wait is bounded.

use std::time::{Duration, Instant};

use cassia_api::{ApiError, Client, pb};
use cassia_ledger::execution::keys;
use cassia_ledger::records::{GovAction, NamespaceAcl};
use cassia_ledger::{Operation, Parameters, Validator, codec};
use cassia_tests::governance::{Organizations, wait_for_validators};
use cassia_tests::load::Load;
use cassia_tests::process::ProcessCluster;

const WAIT: Duration = Duration::from_secs(120);

#[test]
fn a_validator_is_added_then_another_removed_while_the_chain_keeps_committing() {
    let mut cluster = ProcessCluster::start(4);
    cluster.wait_for_height(&[0, 1, 2, 3], 2, WAIT);
    let endpoints = (0..4).map(|i| cluster.endpoint(i)).collect();
    let load = Load::start(endpoints, cluster.admin_key(3), 20, 500);
    let newcomer = cluster.start_outsider();
    let orgs = Organizations::of(&cluster);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");

    // Add: proposal, 3 of 4 organizations approve; it syncs, proves readiness, joins.
    let added = Validator {
        name: "node4".into(),
        organization: "org0".into(),
        node_key: cluster.node_key(newcomer),
        p2p_address: cluster.p2p_address(newcomer),
    };
    runtime.block_on(async {
        let mut client = Client::connect(&cluster.endpoint(0))
            .await
            .expect("connect");
        orgs.pass(
            &mut client,
            GovAction::AddValidator { validator: added },
            1_000,
        )
        .await;
        wait_for_validators(&mut client, 5, "the newcomer never joined", WAIT).await;
    });
    let joined = cluster.height(0);
    cluster.wait_for_height(&[0, 1, 2, 3, newcomer], joined + 2, WAIT);

    // It votes: with node3 stopped, 4 of 5 (the quorum) need the newcomer.
    assert!(cluster.stop(3), "node3 did not stop cleanly");
    let before = cluster.height(0);
    cluster.wait_for_height(&[0, 1, 2, newcomer], before + 3, WAIT);
    cluster.restart(3);
    cluster.wait_for_height(&[0, 1, 2, 3, newcomer], cluster.height(0) + 1, WAIT);

    // Remove node1: the set shrinks to 4, the chain goes on, node1 is refused.
    let removed = cluster.node_key(1);
    runtime.block_on(async {
        let mut client = Client::connect(&cluster.endpoint(0))
            .await
            .expect("connect");
        let action = GovAction::RemoveValidator {
            node_key: removed,
            proof: None,
        };
        orgs.pass(&mut client, action, 2_000).await;
        wait_for_validators(&mut client, 4, "node1 was never removed", WAIT).await;
    });
    let after_removal = cluster.height(0);
    cluster.wait_for_height(&[0, 2, 3, newcomer], after_removal + 5, WAIT);
    let report = load.stop();
    assert!(
        report.acknowledged.len() > 20,
        "the load was mostly refused: {report:?}"
    );
    let node1 = cluster.height(1);
    let others = cluster.height(0);
    assert!(
        node1 + 3 < others,
        "the removed node1 kept up ({node1} vs {others}): it was not refused"
    );
    let status = |i| cluster.commit_at(i, others).expect("commit");
    for i in [2, 3, newcomer] {
        cluster.wait_for_height(&[i], others, WAIT);
        assert_eq!(status(i), status(0), "node{i} agrees at {others}");
    }
}

/// The chain parameters in force after the latest block, as node `client` proves them.
async fn parameters_in_force(client: &mut Client) -> Parameters {
    let key = pb::StateKey {
        key: Some(pb::state_key::Key::Raw(keys::PARAMETERS.to_vec())),
    };
    let stored = client.query(key, None).await.expect("the parameters");
    let bytes = stored.value.expect("the chain has parameters");
    codec::decode(&bytes).expect("parameters decode")
}

/// Passes `parameters` and waits until the chain has them in force.
async fn set_parameters(
    orgs: &Organizations,
    client: &mut Client,
    parameters: Parameters,
    nonce: u64,
) {
    let action = GovAction::SetParameters {
        parameters: parameters.clone(),
    };
    orgs.pass(client, action, nonce).await;
    let deadline = Instant::now() + WAIT;
    while parameters_in_force(client).await != parameters {
        assert!(
            Instant::now() < deadline,
            "the approved parameters never took effect: {parameters:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Caps and admission follow the parameters in force, not the genesis ones: after governance
/// lowers `max_tx_bytes` and `max_block_bytes`, every node refuses at submission a transaction
/// the genesis limits accept; after it raises them again, the same write commits.
#[test]
fn size_limits_changed_by_governance_take_effect_on_the_running_nodes() {
    let cluster = ProcessCluster::start(4);
    cluster.wait_for_height(&[0, 1, 2, 3], 2, WAIT);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let mut client = Client::connect(&cluster.endpoint(0))
            .await
            .expect("connect");
        let genesis = parameters_in_force(&mut client).await;
        let orgs = Organizations::of(&cluster);
        let height = client.status().await.expect("status").height;
        let namespace = Operation::CreateNamespace {
            namespace: "sizes".into(),
            acl: NamespaceAcl::default(),
        };
        let created = client
            .submit_and_wait(&orgs.signed(0, namespace, height, 1), WAIT)
            .await
            .expect("the namespace is created");
        assert!(created.receipt.succeeded(), "{:?}", created.receipt);
        let write = |nonce: u64, height: u64| {
            let op = Operation::Put {
                namespace: "sizes".into(),
                key: b"scan".to_vec(),
                value: vec![7; 32 * 1024],
            };
            orgs.signed(0, op, height, nonce)
        };
        let lowered = Parameters {
            max_tx_bytes: 8 * 1024,
            max_block_bytes: 16 * 1024,
            ..genesis.clone()
        };
        set_parameters(&orgs, &mut client, lowered, 10).await;
        let height = client.status().await.expect("status").height;
        for node in 0..4 {
            let mut client = Client::connect(&cluster.endpoint(node))
                .await
                .expect("connect");
            let refused = client.submit(&write(100 + node as u64, height)).await;
            let Err(ApiError::Status(status)) = &refused else {
                panic!("node{node} took a 32 KiB write over an 8 KiB limit: {refused:?}");
            };
            assert_eq!(status.code(), tonic::Code::ResourceExhausted, "node{node}");
            assert!(
                status.message().contains("limit 8192"),
                "node{node}: {}",
                status.message()
            );
        }
        let raised = Parameters {
            max_tx_bytes: genesis.max_tx_bytes * 2,
            max_block_bytes: genesis.max_block_bytes * 2,
            ..genesis
        };
        set_parameters(&orgs, &mut client, raised, 20).await;
        let height = client.status().await.expect("status").height;
        let committed = client
            .submit_and_wait(&write(200, height), WAIT)
            .await
            .expect("the write commits under the raised limits");
        assert!(committed.receipt.succeeded(), "{:?}", committed.receipt);
    });
}
