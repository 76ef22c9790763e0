//! The consensus timers: the replica's view timer and the leader's next proposal, as the engine
//! last asked for them. At most one of each is armed; a new command replaces the old one, and a
//! timer carries the replica's generation so a stale firing is recognised and ignored by the
//! replica (`Input::TimerFired`).

use std::time::Duration;

use cassia_consensus::TimerCommand;
use cassia_engine::{Engine, Store as _};
use cassia_ledger::{Height, View};
use tokio::time::Instant;

use super::Clock;
use crate::chain_store::ChainStore;

/// A timer that came due, with what the engine must be told.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Due {
    /// The view timer of `(height, view)`, armed as `generation`.
    View {
        /// Height.
        height: Height,
        /// View.
        view: View,
        /// The replica's timer generation.
        generation: u64,
    },
    /// Time for this leader to build the block of `(height, view)`.
    Propose {
        /// Height.
        height: Height,
        /// View.
        view: View,
    },
}

/// The armed timers.
#[derive(Debug, Default)]
pub struct ConsensusTimers {
    view: Option<(Instant, Due)>,
    propose: Option<(Instant, Due)>,
}

impl ConsensusTimers {
    /// The earliest armed timer.
    pub fn next(&self) -> Option<(Instant, Due)> {
        match (self.view, self.propose) {
            (Some(view), Some(propose)) => Some(if propose.0 < view.0 { propose } else { view }),
            (view, propose) => view.or(propose),
        }
    }

    /// `due` fired: disarm it.
    pub fn fired(&mut self, due: Due) {
        match due {
            Due::View { .. } => self.view = None,
            Due::Propose { .. } => self.propose = None,
        }
    }

    /// Arms or cancels what an engine output asks for.
    pub fn apply(
        &mut self,
        engine: &Engine<ChainStore>,
        clock: Clock,
        timer: Option<TimerCommand>,
        propose: Option<(Height, View)>,
    ) {
        match timer {
            Some(TimerCommand::Set {
                height,
                view,
                generation,
                after_ms,
            }) => {
                let due = Due::View {
                    height,
                    view,
                    generation,
                };
                self.view = Some((Instant::now() + Duration::from_millis(after_ms), due));
            }
            Some(TimerCommand::Cancel) => self.view = None,
            None => {}
        }
        if let Some((height, view)) = propose {
            let at = proposal_deadline(engine, clock, height);
            self.propose = Some((at, Due::Propose { height, view }));
        }
    }
}

/// When to propose block `height`: one block interval (in force at that height) after the
/// tip's timestamp, i.e. after the previous proposal was built, not after it committed.
/// Under load, validating and committing a block takes a good part of the interval; counting
/// the interval from the commit would add that time again to every block and leave the
/// chain idle while transactions wait. A leader whose interval has already passed (a slow
/// commit, a view change) proposes at once.
fn proposal_deadline(engine: &Engine<ChainStore>, clock: Clock, height: Height) -> Instant {
    let store = engine.store();
    let interval_ms = store
        .parameters(height)
        .map_or(engine.parameters().block_interval_ms, |p| {
            p.block_interval_ms
        });
    let tip_ms = store
        .tip()
        .map_or_else(|_| clock.now_ms(), |tip| tip.timestamp_ms);
    let due_ms = tip_ms.saturating_add(interval_ms);
    let wait_ms = due_ms.saturating_sub(clock.now_ms()).min(interval_ms);
    Instant::now() + Duration::from_millis(wait_ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_earliest_armed_timer_comes_first_and_a_fired_one_is_disarmed() {
        let mut timers = ConsensusTimers::default();
        assert_eq!(timers.next(), None);
        let now = Instant::now();
        let view = Due::View {
            height: 1,
            view: 0,
            generation: 1,
        };
        let propose = Due::Propose { height: 1, view: 0 };
        timers.view = Some((now + Duration::from_secs(2), view));
        timers.propose = Some((now + Duration::from_millis(200), propose));
        assert_eq!(timers.next().map(|(_, due)| due), Some(propose));
        timers.fired(propose);
        assert_eq!(timers.next().map(|(_, due)| due), Some(view));
        timers.fired(view);
        assert_eq!(timers.next(), None);
    }
}
