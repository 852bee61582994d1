//! proptest strategies for whole worlds that shrink.
//!
//! A case starts as a generated world ([`crate::generate`] of a random seed and random
//! [`WorldParams`] within [`Limits`]), so an unshrunk failure replays with
//! `harness run --seed S --accounts A --instruments I --hours H --fills F`. Shrinking then edits
//! the shape and the script directly, toward fewer accounts, instruments, hours, shocks,
//! models, fee schedules and actions; the seed never changes, since it drives the market
//! streams. Every edit keeps the world valid by construction: the simulator drops or clips
//! intents that became impossible (a SELL of a position whose BUY was removed, a BUY whose
//! cash was withdrawn), so a shrunk case is still a world the migration must handle. A shrunk
//! case replays from its [`ReplayFile`] (`harness run --script <file>`).

use crate::generate::{generate, WorldParams};
use crate::model::ModelKind;
use crate::replay::ReplayFile;
use crate::shape::{Action, Script, Shape};
use crate::sim::{simulate, SimError, Simulation};
use chrono::Duration;
use proptest::prelude::*;
use proptest::strategy::{NewTree, ValueTree};
use proptest::test_runner::TestRunner;

/// Bounds of generated cases (inclusive maxima; minima are 1 account, 1 instrument, 4 hours,
/// 1 fill).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Most accounts.
    pub accounts: usize,
    /// Most instruments.
    pub instruments: usize,
    /// Most hours.
    pub hours: u32,
    /// Most target fills.
    pub fills: u64,
}

impl Limits {
    /// Small worlds for database properties: a case migrates in well under a second.
    pub const SMALL: Limits = Limits {
        accounts: 3,
        instruments: 4,
        hours: 48,
        fills: 80,
    };
}

impl Default for Limits {
    fn default() -> Self {
        Self::SMALL
    }
}

/// One property-test case: a seed, the params it was generated with, and the (possibly
/// shrunk) shape and script.
#[derive(Clone, PartialEq, Eq)]
pub struct WorldCase {
    /// The market seed (and, unshrunk, the generator seed).
    pub seed: u64,
    /// The params the case was generated with.
    pub params: WorldParams,
    /// What exists.
    pub shape: Shape,
    /// What happens.
    pub script: Script,
    /// Shrink edits applied since generation (0: exactly `generate(seed, params)`).
    pub shrink_steps: u32,
}

impl std::fmt::Debug for WorldCase {
    // The full script can be thousands of actions: proptest prints this on failure, and the
    // test prints the script itself as JSON.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "WorldCase {{ seed: {}, params: {:?}, accounts: {}, instruments: {}, hours: {}, actions: {}, shrink_steps: {} }}",
            self.seed,
            self.params,
            self.shape.accounts.len(),
            self.shape.instruments.len(),
            self.shape.hours,
            self.script.actions.len(),
            self.shrink_steps
        )
    }
}

impl WorldCase {
    /// The case `generate(seed, params)` makes.
    pub fn generated(seed: u64, params: &WorldParams) -> Result<Self, SimError> {
        let g = generate(seed, params)?;
        Ok(Self {
            seed,
            params: params.clone(),
            shape: g.shape,
            script: g.script,
            shrink_steps: 0,
        })
    }

    /// True when the case is still exactly the generated world of its seed and params.
    pub fn is_generated(&self) -> bool {
        self.shrink_steps == 0
    }

    /// Runs the simulator on the case.
    pub fn simulate(&self) -> Result<Simulation, SimError> {
        simulate(self.seed, &self.shape, &self.script)
    }

    /// The case as a replay file.
    pub fn replay_file(&self) -> ReplayFile {
        ReplayFile::new(self.seed, self.shape.clone(), self.script.clone())
    }

    /// The script as compact JSON.
    pub fn script_json(&self) -> String {
        serde_json::to_string(&self.script).unwrap_or_default()
    }

    /// `harness run --seed S --accounts A --instruments I --hours H --fills F`: regenerates the
    /// unshrunk world of this case.
    pub fn seed_command(&self) -> String {
        format!(
            "harness run --seed {} --accounts {} --instruments {} --hours {} --fills {}",
            self.seed,
            self.params.accounts,
            self.params.instruments,
            self.params.hours,
            self.params.target_fills
        )
    }
}

/// Strategy of [`WorldCase`]s within `limits`.
pub fn world_cases(limits: Limits) -> WorldCases {
    WorldCases { limits }
}

/// See [`world_cases`].
#[derive(Debug, Clone, Copy)]
pub struct WorldCases {
    limits: Limits,
}

impl Strategy for WorldCases {
    type Tree = WorldCaseTree;
    type Value = WorldCase;

    fn new_tree(&self, runner: &mut TestRunner) -> NewTree<Self> {
        let l = self.limits;
        let draw = (
            any::<u64>(),
            1..=l.accounts.max(1),
            1..=l.instruments.max(1),
            4..=l.hours.max(4),
            1..=l.fills.max(1),
        );
        let (seed, accounts, instruments, hours, target_fills) = draw.new_tree(runner)?.current();
        let params = WorldParams {
            accounts,
            instruments,
            hours,
            target_fills,
        };
        let case = WorldCase::generated(seed, &params)
            .map_err(|e| format!("generators bug: seed {seed} {params:?}: {e}"))?;
        Ok(WorldCaseTree::new(case))
    }
}

/// One edit of a case toward a smaller one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Edit {
    DropAccount(usize),
    DropInstrument(usize),
    CutHours(u32),
    DropShock(usize),
    DropModel(usize),
    DropFeeSchedule(usize, usize),
    /// Drop `len` removable (non-`AdvanceHour`) actions from the `start`-th on.
    DropActions(usize, usize),
    /// Remove the `AdvanceHour` that enters hour k (k >= 1): hour k's actions join hour k-1,
    /// later hours move one earlier, the world is one hour shorter.
    MergeHour(u32),
    SingleFills,
    OneFeature,
}

fn action_account(a: &mut Action) -> Option<&mut usize> {
    match a {
        Action::Deposit { account, .. }
        | Action::Withdraw { account, .. }
        | Action::Buy { account, .. }
        | Action::BuyToCap { account, .. }
        | Action::Sell { account, .. } => Some(account),
        Action::AdvanceHour | Action::Retrain { .. } => None,
    }
}

fn action_instrument(a: &mut Action) -> Option<&mut usize> {
    match a {
        Action::Buy { instrument, .. }
        | Action::BuyToCap { instrument, .. }
        | Action::Sell { instrument, .. } => Some(instrument),
        _ => None,
    }
}

/// Removes index `i` from the actions' `field`: actions naming `i` go, later indexes move
/// down by one.
fn remap(actions: &mut Vec<Action>, i: usize, field: fn(&mut Action) -> Option<&mut usize>) {
    actions.retain_mut(|a| match field(a) {
        Some(x) if *x == i => false,
        Some(x) => {
            if *x > i {
                *x -= 1;
            }
            true
        }
        None => true,
    });
}

fn retrain_model(a: &mut Action) -> Option<&mut usize> {
    match a {
        Action::Retrain { model, .. } => Some(model),
        _ => None,
    }
}

impl Edit {
    fn apply(self, base: &WorldCase) -> Option<WorldCase> {
        let mut c = base.clone();
        let shape = &mut c.shape;
        let actions = &mut c.script.actions;
        match self {
            Edit::DropAccount(i) => {
                if shape.accounts.len() <= 1 || i >= shape.accounts.len() {
                    return None;
                }
                shape.accounts.remove(i);
                remap(actions, i, action_account);
            }
            Edit::DropInstrument(i) => {
                if shape.instruments.len() <= 1 || i >= shape.instruments.len() {
                    return None;
                }
                let cluster = shape.instruments.remove(i).cluster;
                remap(actions, i, action_instrument);
                shape.shocks.retain_mut(|s| match s.instrument.as_mut() {
                    Some(x) if *x == i => false,
                    Some(x) => {
                        if *x > i {
                            *x -= 1;
                        }
                        true
                    }
                    None => true,
                });
                if !shape.instruments.iter().any(|x| x.cluster == cluster) {
                    shape.clusters.remove(cluster);
                    for x in &mut shape.instruments {
                        if x.cluster > cluster {
                            x.cluster -= 1;
                        }
                    }
                }
            }
            Edit::CutHours(h) => {
                if h < 2 || h >= shape.hours {
                    return None;
                }
                shape.hours = h;
                // Keep actions of hours < h: cut at the AdvanceHour that would enter hour h.
                let mut hour = 0;
                let cut = actions
                    .iter()
                    .position(|a| {
                        if matches!(a, Action::AdvanceHour) {
                            hour += 1;
                        }
                        hour >= h
                    })
                    .unwrap_or(actions.len());
                actions.truncate(cut);
                shape.shocks.retain(|s| s.hour < h);
                let end = shape.start_hour + Duration::hours(i64::from(h));
                for a in &mut shape.accounts {
                    let first = a.fee_schedules.iter().map(|f| f.effective_from).min();
                    a.fee_schedules
                        .retain(|f| Some(f.effective_from) == first || f.effective_from < end);
                }
            }
            Edit::DropShock(i) => {
                if i >= shape.shocks.len() {
                    return None;
                }
                shape.shocks.remove(i);
            }
            Edit::DropModel(i) => {
                let kind: ModelKind = shape.models.get(i)?.kind;
                if shape.models.iter().filter(|m| m.kind == kind).count() <= 1 {
                    return None;
                }
                shape.models.remove(i);
                remap(actions, i, retrain_model);
            }
            Edit::DropFeeSchedule(a, j) => {
                let schedules = &mut shape.accounts.get_mut(a)?.fee_schedules;
                let first = schedules.iter().map(|f| f.effective_from).min();
                // The earliest schedule stays: without it early fills have no fee in effect.
                if j >= schedules.len() || Some(schedules[j].effective_from) == first {
                    return None;
                }
                schedules.remove(j);
            }
            Edit::DropActions(start, len) => {
                let removable: Vec<usize> = actions
                    .iter()
                    .enumerate()
                    .filter(|(_, a)| !matches!(a, Action::AdvanceHour))
                    .map(|(i, _)| i)
                    .skip(start)
                    .take(len)
                    .collect();
                if removable.is_empty() {
                    return None;
                }
                let mut k = 0;
                let mut index = 0;
                actions.retain(|_| {
                    let keep = removable.get(k) != Some(&index);
                    if !keep {
                        k += 1;
                    }
                    index += 1;
                    keep
                });
            }
            Edit::MergeHour(k) => {
                if k == 0 || shape.hours <= 2 {
                    return None;
                }
                let mut hour = 0;
                let at = actions.iter().position(|a| {
                    if matches!(a, Action::AdvanceHour) {
                        hour += 1;
                    }
                    hour == k
                })?;
                actions.remove(at);
                shape.hours -= 1;
                for s in &mut shape.shocks {
                    if s.hour >= k {
                        s.hour -= 1;
                    }
                }
                shape.shocks.retain(|s| s.hour < shape.hours);
            }
            Edit::SingleFills => {
                let mut changed = false;
                for a in actions.iter_mut() {
                    if let Action::Buy { fills, .. }
                    | Action::BuyToCap { fills, .. }
                    | Action::Sell { fills, .. } = a
                    {
                        if *fills > 1 {
                            *fills = 1;
                            changed = true;
                        }
                    }
                }
                if !changed {
                    return None;
                }
            }
            Edit::OneFeature => {
                if shape.feature_count <= 1 {
                    return None;
                }
                shape.feature_count = 1;
            }
        }
        c.shrink_steps += 1;
        (c != *base).then_some(c)
    }
}

/// Every edit worth trying on `c`, biggest first.
fn edits(c: &WorldCase) -> Vec<Edit> {
    let mut out = Vec::new();
    out.extend((0..c.shape.accounts.len()).rev().map(Edit::DropAccount));
    out.extend(
        (0..c.shape.instruments.len())
            .rev()
            .map(Edit::DropInstrument),
    );
    let h = c.shape.hours;
    for cut in [h / 2, h * 3 / 4, h - 1] {
        if cut >= 2 && cut < h && !out.contains(&Edit::CutHours(cut)) {
            out.push(Edit::CutHours(cut));
        }
    }
    let removable = c
        .script
        .actions
        .iter()
        .filter(|a| !matches!(a, Action::AdvanceHour))
        .count();
    let mut size = removable / 2;
    while size >= 1 {
        out.extend(
            (0..removable)
                .step_by(size)
                .map(|s| Edit::DropActions(s, size)),
        );
        if size == 1 {
            break;
        }
        size /= 2;
    }
    let advances = c
        .script
        .actions
        .iter()
        .filter(|a| matches!(a, Action::AdvanceHour))
        .count() as u32;
    out.extend((1..=advances).rev().map(Edit::MergeHour));
    out.extend((0..c.shape.shocks.len()).rev().map(Edit::DropShock));
    out.extend((0..c.shape.models.len()).rev().map(Edit::DropModel));
    for (a, spec) in c.shape.accounts.iter().enumerate() {
        out.extend((0..spec.fee_schedules.len()).map(|j| Edit::DropFeeSchedule(a, j)));
    }
    out.push(Edit::SingleFills);
    out.push(Edit::OneFeature);
    out
}

/// The shrinking tree of one [`WorldCase`]: greedy, one edit at a time; an edit that keeps
/// the failure becomes the new base and the edit list starts over.
#[derive(Debug, Clone)]
pub struct WorldCaseTree {
    /// The last case known to fail (or the generated one).
    base: WorldCase,
    current: WorldCase,
    edits: Vec<Edit>,
    next: usize,
}

impl WorldCaseTree {
    /// A tree rooted at `case`.
    pub fn new(case: WorldCase) -> Self {
        let edits = edits(&case);
        Self {
            base: case.clone(),
            current: case,
            edits,
            next: 0,
        }
    }

    /// Moves `current` to the next edit of `base` that changes something.
    fn advance(&mut self) -> bool {
        while let Some(edit) = self.edits.get(self.next).copied() {
            self.next += 1;
            if let Some(c) = edit.apply(&self.base) {
                self.current = c;
                return true;
            }
        }
        self.current = self.base.clone();
        false
    }
}

impl ValueTree for WorldCaseTree {
    type Value = WorldCase;

    fn current(&self) -> WorldCase {
        self.current.clone()
    }

    fn simplify(&mut self) -> bool {
        // proptest calls this after `current` failed: it becomes the base to shrink further.
        if self.current != self.base {
            self.base = self.current.clone();
            self.edits = edits(&self.base);
            self.next = 0;
        }
        self.advance()
    }

    fn complicate(&mut self) -> bool {
        // `current` passed: back to the last failing case, try its next edit.
        self.current = self.base.clone();
        self.advance()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::test_runner::{Config, TestError};

    fn case() -> WorldCase {
        let params = WorldParams {
            accounts: 3,
            instruments: 4,
            hours: 30,
            target_fills: 60,
        };
        WorldCase::generated(5, &params).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn every_edit_keeps_the_world_valid() {
        let c = case();
        let mut applied = 0;
        for e in edits(&c) {
            if let Some(smaller) = e.apply(&c) {
                applied += 1;
                smaller
                    .simulate()
                    .unwrap_or_else(|err| panic!("{e:?} broke the world: {err}"));
                assert!(smaller.shrink_steps == 1 && !smaller.is_generated());
            }
        }
        assert!(applied > 20, "{applied}");
    }

    #[test]
    fn dropping_an_instrument_remaps_actions_shocks_and_clusters() {
        let c = case();
        let smaller = Edit::DropInstrument(0)
            .apply(&c)
            .unwrap_or_else(|| panic!("no edit"));
        assert_eq!(smaller.shape.instruments.len(), 3);
        let n = smaller.shape.instruments.len();
        for a in &smaller.script.actions {
            if let Action::Buy { instrument, .. } | Action::Sell { instrument, .. } = a {
                assert!(*instrument < n);
            }
        }
        for i in &smaller.shape.instruments {
            assert!(i.cluster < smaller.shape.clusters.len());
        }
        assert!(smaller.simulate().is_ok());
    }

    #[test]
    fn a_failure_shrinks_to_a_minimal_world() {
        // "fails" whenever some SELL fill exists: the minimum is one account, one instrument,
        // a deposit, one BUY and one SELL. A fixed RNG: how far a random start shrinks within
        // proptest's iteration limit varies, and a test must not.
        let mut runner = TestRunner::new_with_rng(
            Config {
                cases: 32,
                failure_persistence: None,
                ..Config::default()
            },
            proptest::test_runner::TestRng::deterministic_rng(
                proptest::test_runner::RngAlgorithm::ChaCha,
            ),
        );
        let result = runner.run(&world_cases(Limits::SMALL), |c| {
            let sim = c
                .simulate()
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
            let sells = sim
                .world
                .order_fill
                .iter()
                .filter(|f| f.side == crate::model::Side::Sell)
                .count();
            prop_assert_eq!(sells, 0);
            Ok(())
        });
        let Err(TestError::Fail(_, minimal)) = result else {
            panic!("no generated world sold anything: {result:?}");
        };
        assert_eq!(minimal.shape.accounts.len(), 1, "{minimal:?}");
        assert_eq!(minimal.shape.instruments.len(), 1, "{minimal:?}");
        let intents = minimal
            .script
            .actions
            .iter()
            .filter(|a| !matches!(a, Action::AdvanceHour))
            .count();
        assert!(
            intents <= 3,
            "{intents} actions left: {}",
            minimal.script_json()
        );
        assert!(minimal.shape.hours <= 4, "{minimal:?}");
        assert!(!minimal.is_generated());
        assert!(minimal.seed_command().starts_with("harness run --seed "));
    }
}
