"""cc_grpc_proto: C++ messages and gRPC stubs for one .proto, generated offline."""

def cc_grpc_proto(name, src):
    base = src[:-len(".proto")]
    outs = [base + ext for ext in [".pb.h", ".pb.cc", ".grpc.pb.h", ".grpc.pb.cc"]]
    native.genrule(
        name = name + "_gen",
        srcs = [src],
        outs = outs,
        # Run from the package directory's root so that include paths are
        # "zeoraid/v1/x.pb.h", matching the proto package.
        cmd = ("protoc -I" + native.package_name() + " " +
              "--cpp_out=$(GENDIR)/proto --grpc_out=$(GENDIR)/proto " +
              "--plugin=protoc-gen-grpc=/usr/bin/grpc_cpp_plugin " +
              "$(location {src})").format(src = src),
    )
    native.cc_library(
        name = name,
        srcs = [o for o in outs if o.endswith(".cc")],
        hdrs = [o for o in outs if o.endswith(".h")],
        includes = ["."],
        deps = ["@system//:grpc"],
    )
