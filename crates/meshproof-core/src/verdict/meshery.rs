//! The historical Meshery scoring of a case: the first failing step decides Full, Half or None.

use super::{MesheryCase, Outcome, StepVerdict};

/// Meshery's formula: the first step that did not pass decides; HALF when `passed >= steps / 2`.
pub(super) fn meshery_case(steps: &[StepVerdict]) -> MesheryCase {
    let n = steps.len();
    match steps.iter().position(|s| s.outcome != Outcome::Pass) {
        None => MesheryCase {
            capability: "FULL".into(),
            status: "PASSED".into(),
            steps: n,
            passed: n,
            failed_step: None,
        },
        Some(i) => {
            let passed = i;
            MesheryCase {
                capability: if passed >= n / 2 { "HALF" } else { "NONE" }.into(),
                status: "FAILED".into(),
                steps: n,
                passed,
                failed_step: Some(i + 1),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verdict::Outcome;

    #[test]
    fn meshery_half_when_first_failure_past_midpoint() {
        let step = |o| StepVerdict {
            index: 0,
            name: String::new(),
            description: String::new(),
            outcome: o,
            attempts: 1,
            passed_at_attempt: None,
            checks: vec![],
        };
        let mut s = vec![step(Outcome::Pass); 7];
        s[3] = step(Outcome::Fail); // fails at step 4 → passed 3 ≥ 7/2 = 3 → HALF
        assert_eq!(meshery_case(&s).capability, "HALF");
        s[3] = step(Outcome::Pass);
        s[2] = step(Outcome::Fail); // fails at step 3 → passed 2 < 3 → NONE
        assert_eq!(meshery_case(&s).capability, "NONE");
        assert_eq!(meshery_case(&s).failed_step, Some(3));
    }
}
