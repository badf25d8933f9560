// PlanReconcile: which backends hold the truth when raidcore does not know it
// from a commit it confirmed itself — at start-up, and when every backend
// failed (DESIGN.md, RAID rule 7).
//
// The newest tid among the backends is the truth: a backend at it has every
// acknowledged commit; one behind it is recovered incrementally (the recovery
// job checks that its last transaction is in the truth's history, else it has
// diverged and needs a full rebuild). A backend that has not reported may be
// the newest, so nothing is decided while one is missing — unless raidcore's
// own last confirmed tid shows who is complete, or the operator allows a
// degraded start.
#ifndef ZEORAID_RAIDCORE_RECOVERY_RECONCILE_H_
#define ZEORAID_RAIDCORE_RECOVERY_RECONCILE_H_

#include <optional>
#include <string>
#include <vector>

namespace zeoraid::raidcore {

struct BackendReport {
  std::string name;
  // Empty: the backend did not report (unreachable).
  std::optional<std::string> last_tid;
};

struct ReconcilePlan {
  // False: wait (see `waiting_for`); nothing may be committed or read yet.
  bool decided = false;
  std::string waiting_for;
  std::string truth_tid;
  // The truth is raidcore's unconfirmed transaction, which becomes committed.
  bool adopt_unconfirmed = false;
  std::vector<std::string> optimal;  // at the truth tid
  std::vector<std::string> behind;   // need recovery
  std::vector<std::string> ahead;    // newer than raidcore knows: diverged
  std::vector<std::string> missing;  // did not report: stay degraded
};

// `confirmed_tid`: raidcore's last confirmed commit, empty at start-up (it
// knows none). `unconfirmed_tid`: a transaction whose tpc_finish no backend
// confirmed, if any. `allow_missing`: decide with the backends that reported
// (--allow_degraded_start).
ReconcilePlan PlanReconcile(const std::vector<BackendReport>& reports,
                            const std::string& confirmed_tid,
                            const std::optional<std::string>& unconfirmed_tid,
                            bool allow_missing);

}  // namespace zeoraid::raidcore

#endif  // ZEORAID_RAIDCORE_RECOVERY_RECONCILE_H_
