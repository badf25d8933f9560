// Orderly shutdown on SIGINT/SIGTERM for the servers.
#ifndef ZEORAID_BASE_SHUTDOWN_H_
#define ZEORAID_BASE_SHUTDOWN_H_

namespace zeoraid {

// Blocks SIGINT and SIGTERM in the calling thread and every thread it starts
// afterwards, so that they arrive only where Wait() collects them. Construct it
// first thing in main, before any thread exists.
class ShutdownSignal {
 public:
  ShutdownSignal();
  // Returns the signal number once SIGINT or SIGTERM arrives.
  int Wait();
};

}  // namespace zeoraid

#endif  // ZEORAID_BASE_SHUTDOWN_H_
