use harness::{db, TestDb};
use rstest::rstest;
use std::sync::Arc;

#[rstest]
#[case(true)]
#[case(false)]
#[tokio::test]
async fn explore(#[future(awt)] db: TestDb, #[case] real: bool) {
    let t0 = std::time::Instant::now();
    let mut c = db.connect().await.unwrap();
    let world = generators::fixture_world();
    let ts = std::time::Instant::now();
    generators::seed_world(&mut c, &world).await.unwrap();
    let seed = ts.elapsed();
    let t = std::time::Instant::now();
    migrations::apply_phase_1b(&mut c).await.unwrap();
    let opts = if real { migrations::RunOptions::default() } else { migrations::RunOptions { gate: Some(Arc::new(migrations::StaticGate::default())), ..Default::default() } };
    let o = migrations::run_phase_1c(&mut c, &opts).await.unwrap();
    eprintln!("real={real} total {:?} seed {seed:?} mig {:?} {}", t0.elapsed(), t.elapsed(), o.completed());
    for s in &o.steps { eprintln!("  {} {:?}", s.step, s.duration); }
}
