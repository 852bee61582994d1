use harness::{db, TestDb};
use rstest::rstest;

#[rstest]
#[tokio::test]
async fn explore(#[future(awt)] db: TestDb) {
    let mut c = db.connect().await.unwrap();
    let world = generators::fixture_world();
    generators::seed_world(&mut c, &world).await.unwrap();
    let t = std::time::Instant::now();
    migrations::apply_phase_1b(&mut c).await.unwrap();
    let o = migrations::run_phase_1c(&mut c, &migrations::RunOptions::default()).await.unwrap();
    eprintln!("took {:?} {}", t.elapsed(), o.completed());
    panic!("keep");
}
