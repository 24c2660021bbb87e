//! Reading the policy as a person would: for one sender role, signal type and sending purpose,
//! which fields reach each receiving purpose and which are withheld, and why. Serves
//! `ketenpoort policy explain` and the `PolicyService.WhatMayI` answer.

use std::sync::Arc;

use super::{Denied, FieldTree, Policy, Purpose, Rule};
use crate::{
    catalogue::{Catalogue, LeafField, Sensitivity},
    registry::Role,
};

/// What one rule releases to each of its receiving purposes.
#[derive(Debug)]
pub struct Explanation {
    /// The rule.
    pub rule: Arc<Rule>,
    /// One view per receiving purpose, in code order.
    pub purposes: Vec<PurposeView>,
}

/// What one receiving purpose gets of a signal.
#[derive(Debug)]
pub struct PurposeView {
    /// The purpose.
    pub purpose: Purpose,
    /// Fields that pass, with their sensitivity classes.
    pub passes: Vec<(String, Vec<Sensitivity>)>,
    /// Fields that are withheld, and why.
    pub withheld: Vec<(String, Withheld)>,
}

/// Why a field is withheld from a purpose.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Withheld {
    /// The purpose's allowlist does not name it.
    NotAllowlisted,
    /// It is biometric; biometric data never passes.
    Biometric,
}

impl Policy {
    /// Explains the rule for `role` sending `signal` for `purpose`.
    pub fn explain(
        &self,
        catalogue: &Catalogue,
        role: Role,
        signal: &str,
        purpose: &str,
    ) -> Result<Explanation, Denied> {
        let rule = self
            .rule_for(role, signal, purpose)
            .ok_or_else(|| Denied::NoRule {
                role,
                signal: signal.to_string(),
                purpose: purpose.to_string(),
            })?;
        let leaves = catalogue
            .signal(signal)
            .map(|m| catalogue.leaf_fields(m))
            .unwrap_or_default();
        let purposes = rule
            .receive
            .iter()
            .filter_map(|(code, grant)| {
                let purpose = self.purposes.get(code)?.clone();
                Some(view(purpose, &grant.fields, &leaves))
            })
            .collect();
        Ok(Explanation {
            rule: rule.clone(),
            purposes,
        })
    }

    /// The field paths of `signal` a receiver registered for `purposes` gets along `rule`.
    pub fn received_fields(
        &self,
        catalogue: &Catalogue,
        rule: &Rule,
        purposes: &[String],
    ) -> Vec<String> {
        let tree = rule
            .receive
            .iter()
            .filter(|(code, _)| purposes.contains(code))
            .fold(FieldTree::default(), |acc, (_, g)| acc.union(&g.fields));
        catalogue
            .signal(&rule.signal)
            .map(|m| catalogue.leaf_fields(m))
            .unwrap_or_default()
            .into_iter()
            .filter(|leaf| tree.allows(&leaf.numbers))
            .map(|leaf| leaf.path)
            .collect()
    }
}

fn view(purpose: Purpose, fields: &FieldTree, leaves: &[LeafField]) -> PurposeView {
    let mut passes = Vec::new();
    let mut withheld = Vec::new();
    for leaf in leaves {
        if leaf.sensitivities.contains(&Sensitivity::Biometric) {
            withheld.push((leaf.path.clone(), Withheld::Biometric));
        } else if fields.allows(&leaf.numbers) {
            passes.push((leaf.path.clone(), leaf.sensitivities.clone()));
        } else {
            withheld.push((leaf.path.clone(), Withheld::NotAllowlisted));
        }
    }
    PurposeView {
        purpose,
        passes,
        withheld,
    }
}
