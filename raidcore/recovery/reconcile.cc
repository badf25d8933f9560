#include "raidcore/recovery/reconcile.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "zeo/tid.h"

namespace zeoraid::raidcore {

using zeo::TidToUint64;

ReconcilePlan PlanReconcile(const std::vector<BackendReport>& reports,
                            const std::string& confirmed_tid,
                            const std::optional<std::string>& unconfirmed_tid,
                            bool allow_missing) {
  ReconcilePlan plan;
  std::vector<std::string> missing;
  bool has_unconfirmed = false;
  bool has_confirmed = false;
  std::string newest;
  for (const BackendReport& r : reports) {
    if (!r.last_tid.has_value()) {
      missing.push_back(r.name);
      continue;
    }
    if (unconfirmed_tid.has_value() && *r.last_tid == *unconfirmed_tid) {
      has_unconfirmed = true;
    }
    if (!confirmed_tid.empty() && *r.last_tid == confirmed_tid) {
      has_confirmed = true;
    }
    if (newest.empty() || TidToUint64(*r.last_tid) > TidToUint64(newest)) {
      newest = *r.last_tid;
    }
  }
  plan.missing = missing;
  if (newest.empty()) {
    plan.waiting_for = "no backend reported its last transaction";
    return plan;
  }

  if (confirmed_tid.empty()) {
    // Start-up: only the newest of all backends is sure to be the truth.
    if (!missing.empty() && !allow_missing) {
      plan.waiting_for = absl::StrCat(
          "waiting for backend(s) ", absl::StrJoin(missing, ", "),
          " to report their last transaction: one may hold newer commits "
          "(--allow_degraded_start starts without them)");
      return plan;
    }
    plan.truth_tid = newest;
  } else if (has_unconfirmed) {
    plan.truth_tid = *unconfirmed_tid;
    plan.adopt_unconfirmed = true;
  } else if (unconfirmed_tid.has_value() && !missing.empty() &&
             !allow_missing) {
    // A missing backend may hold the unconfirmed transaction: re-admitting
    // one without it would make that backend diverge.
    plan.waiting_for = absl::StrCat(
        "waiting for backend(s) ", absl::StrJoin(missing, ", "),
        ": one may hold transaction ", zeo::TidHex(*unconfirmed_tid),
        " whose tpc_finish was not confirmed");
    return plan;
  } else if (has_confirmed || missing.empty() || allow_missing) {
    // Every backend at raidcore's last confirmed commit holds every
    // acknowledged transaction, whoever else is missing.
    plan.truth_tid = confirmed_tid;
  } else {
    plan.waiting_for =
        absl::StrCat("no backend reported raidcore's last commit ",
                     zeo::TidHex(confirmed_tid), "; waiting for ",
                     absl::StrJoin(missing, ", "));
    return plan;
  }

  plan.decided = true;
  const uint64_t truth = TidToUint64(plan.truth_tid);
  for (const BackendReport& r : reports) {
    if (!r.last_tid.has_value()) continue;
    const uint64_t tid = TidToUint64(*r.last_tid);
    if (tid == truth) {
      plan.optimal.push_back(r.name);
    } else if (tid < truth) {
      plan.behind.push_back(r.name);
    } else {
      plan.ahead.push_back(r.name);
    }
  }
  return plan;
}

}  // namespace zeoraid::raidcore
