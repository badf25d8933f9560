// rpc_floor: the cost of one round trip between two processes on this
// machine, by transport, to put ZEORaid's added latency in proportion. A
// load through the RAID makes two round trips more than one to plain ZEO
// (client -> translator -> raidcore -> backend instead of client -> server).
//
//   bazel run -c opt //tests/bench:rpc_floor -- [--round_trips 20000]
//
// For each server kind it starts a copy of itself as the server (a separate
// process, loopback only, a free port), then measures from this process:
// wall time, this process's CPU and the server's CPU (from /proc) per round
// trip of a 200-byte message, sequentially.
#include <arpa/inet.h>
#include <grpcpp/grpcpp.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "zeoraid/bench/v1/echo.grpc.pb.h"

ABSL_FLAG(int, round_trips, 20000, "round trips per figure");
ABSL_FLAG(std::string, serve, "",
          "internal: run as the server of this kind (tcp, sync, async)");

namespace {

using zeoraid::bench::v1::Echo;
using zeoraid::bench::v1::Echoer;

constexpr size_t kMessageBytes = 200;

double SelfCpu() {
  rusage u;
  getrusage(RUSAGE_SELF, &u);
  return u.ru_utime.tv_sec + u.ru_utime.tv_usec / 1e6 + u.ru_stime.tv_sec +
         u.ru_stime.tv_usec / 1e6;
}

double ProcessCpu(pid_t pid) {
  std::ifstream in(absl::StrCat("/proc/", pid, "/stat"));
  std::string all((std::istreambuf_iterator<char>(in)),
                  std::istreambuf_iterator<char>());
  std::istringstream fields(all.substr(all.rfind(')') + 2));
  std::string f;
  double ticks = 0;
  for (int i = 3; i <= 15; ++i) {
    fields >> f;
    if (i == 14 || i == 15) ticks += std::stod(f);
  }
  return ticks / sysconf(_SC_CLK_TCK);
}

// ---- servers ----

int ListenTcp(int* port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      listen(fd, 1) != 0) {
    perror("listen");
    exit(1);
  }
  socklen_t len = sizeof addr;
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  *port = ntohs(addr.sin_port);
  return fd;
}

void ServeTcp() {
  int port;
  int listener = ListenTcp(&port);
  printf("%d\n", port);
  fflush(stdout);
  int fd = accept(listener, nullptr, nullptr);
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  char buf[kMessageBytes];
  while (true) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n <= 0) exit(0);
    if (write(fd, buf, n) != n) exit(0);
  }
}

class SyncEchoer final : public Echoer::Service {
  grpc::Status Unary(grpc::ServerContext*, const Echo* in, Echo* out) override {
    *out = *in;
    return grpc::Status::OK;
  }
  grpc::Status Stream(grpc::ServerContext*,
                      grpc::ServerReaderWriter<Echo, Echo>* s) override {
    Echo e;
    while (s->Read(&e)) s->Write(e);
    return grpc::Status::OK;
  }
};

// Completion-queue server, one thread: the model of raidcore's
// LoadStreamServer.
struct Op {
  enum Kind { kUnary, kStream } kind;
  void* call;
};
struct UnaryCall {
  grpc::ServerContext ctx;
  Echo request;
  grpc::ServerAsyncResponseWriter<Echo> writer{&ctx};
  bool finishing = false;
  Op op{Op::kUnary, this};
};
struct StreamCall {
  grpc::ServerContext ctx;
  Echo message;
  grpc::ServerAsyncReaderWriter<Echo, Echo> io{&ctx};
  int state = 0;  // 0 accepted?, 1 reading, 2 writing, 3 finishing
  Op op{Op::kStream, this};
};

void Serve(const std::string& kind) {
  if (kind == "tcp") ServeTcp();
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(),
                           &port);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_BDP_PROBE, 0);
  SyncEchoer sync;
  Echoer::AsyncService async;
  std::unique_ptr<grpc::ServerCompletionQueue> cq;
  if (kind == "sync") {
    builder.RegisterService(&sync);
  } else {
    builder.RegisterService(&async);
    cq = builder.AddCompletionQueue();
  }
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  printf("%d\n", port);
  fflush(stdout);
  if (kind == "sync") {
    server->Wait();
    return;
  }
  auto request_unary = [&] {
    auto* c = new UnaryCall;
    async.RequestUnary(&c->ctx, &c->request, &c->writer, cq.get(), cq.get(),
                       &c->op);
  };
  auto request_stream = [&] {
    auto* c = new StreamCall;
    async.RequestStream(&c->ctx, &c->io, cq.get(), cq.get(), &c->op);
  };
  request_unary();
  request_stream();
  void* tag;
  bool ok;
  while (cq->Next(&tag, &ok)) {
    Op* op = static_cast<Op*>(tag);
    if (op->kind == Op::kUnary) {
      auto* c = static_cast<UnaryCall*>(op->call);
      if (c->finishing || !ok) {
        delete c;
        continue;
      }
      request_unary();
      c->finishing = true;
      c->writer.Finish(c->request, grpc::Status::OK, &c->op);
      continue;
    }
    auto* c = static_cast<StreamCall*>(op->call);
    switch (c->state) {
      case 0:
        if (!ok) {
          delete c;
          break;
        }
        request_stream();
        c->state = 1;
        c->io.Read(&c->message, &c->op);
        break;
      case 1:
        if (!ok) {
          c->state = 3;
          c->io.Finish(grpc::Status::OK, &c->op);
        } else {
          c->state = 2;
          c->io.Write(c->message, &c->op);
        }
        break;
      case 2:
        c->state = 1;
        c->io.Read(&c->message, &c->op);
        break;
      default:
        delete c;
    }
  }
}

// ---- client ----

struct Server {
  pid_t pid;
  int port;
};

Server Start(const char* self, const std::string& kind) {
  int out[2];
  if (pipe(out) != 0) exit(1);
  pid_t pid = fork();
  if (pid == 0) {
    dup2(out[1], 1);
    close(out[0]);
    execl(self, self, absl::StrCat("--serve=", kind).c_str(), nullptr);
    _exit(127);
  }
  close(out[1]);
  char buf[32] = {0};
  ssize_t n = read(out[0], buf, sizeof buf - 1);
  close(out[0]);
  if (n <= 0) {
    fprintf(stderr, "server %s did not start\n", kind.c_str());
    exit(1);
  }
  return Server{pid, atoi(buf)};
}

void Stop(const Server& s) {
  kill(s.pid, SIGTERM);
  waitpid(s.pid, nullptr, 0);
}

template <typename Fn>
void Measure(const char* label, const Server& server, int n, Fn round_trip) {
  for (int i = 0; i < 200; ++i) round_trip();  // warm up
  const double server_cpu = ProcessCpu(server.pid);
  const double self_cpu = SelfCpu();
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < n; ++i) round_trip();
  const double wall =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0)
          .count();
  printf("%-44s %8.1f us %10.1f us %10.1f us\n", label, wall / n * 1e6,
         (SelfCpu() - self_cpu) / n * 1e6,
         (ProcessCpu(server.pid) - server_cpu) / n * 1e6);
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  const std::string serve = absl::GetFlag(FLAGS_serve);
  if (!serve.empty()) {
    Serve(serve);
    return 0;
  }
  const int n = absl::GetFlag(FLAGS_round_trips);
  printf("%d round trips of %zu bytes, sequential; nproc %ld\n", n,
         kMessageBytes, sysconf(_SC_NPROCESSORS_ONLN));
  printf("%-44s %11s %13s %13s\n", "transport", "round trip", "client CPU",
         "server CPU");

  {
    Server s = Start("/proc/self/exe", "tcp");
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(s.port);
    if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      perror("connect");
      return 1;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    char buf[kMessageBytes] = {0};
    Measure("loopback TCP (blocking read/write)", s, n, [&] {
      if (write(fd, buf, sizeof buf) != sizeof buf) exit(1);
      size_t got = 0;
      while (got < sizeof buf) {
        ssize_t r = read(fd, buf + got, sizeof buf - got);
        if (r <= 0) exit(1);
        got += r;
      }
    });
    close(fd);
    Stop(s);
  }

  for (const std::string kind : {"sync", "async"}) {
    Server s = Start("/proc/self/exe", kind);
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_HTTP2_BDP_PROBE, 0);
    auto stub = Echoer::NewStub(
        grpc::CreateCustomChannel(absl::StrCat("127.0.0.1:", s.port),
                                  grpc::InsecureChannelCredentials(), args));
    Echo message;
    message.set_data(std::string(kMessageBytes, 'x'));
    const std::string server_name =
        kind == "sync" ? "synchronous server" : "completion-queue server";
    Measure(absl::StrCat("gRPC unary, ", server_name).c_str(), s, n, [&] {
      grpc::ClientContext context;
      Echo reply;
      if (!stub->Unary(&context, message, &reply).ok()) exit(1);
    });
    grpc::ClientContext context;
    auto stream = stub->Stream(&context);
    Echo reply;
    Measure(absl::StrCat("gRPC stream message, ", server_name).c_str(), s, n,
            [&] {
              if (!stream->Write(message) || !stream->Read(&reply)) exit(1);
            });
    stream->WritesDone();
    stream->Finish();
    Stop(s);
  }
  return 0;
}
