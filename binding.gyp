{
  "targets": [
    {
      "target_name": "torov",
      "sources": [
        "native/addon.cc",
        "native/debug.cc",
        "native/kvm/probes.cc",
        "native/fdtable.cc",
        "native/process.cc",
        "native/kvm/kvm.cc",
        "native/binding.cc",
        "native/memfds.cc",
        "native/memory.cc",
        "native/mounts.cc",
        "native/paths.cc",
        "native/privileges.cc",
        "native/kvm/scratch.cc",
        "native/sanitizer.cc",
        "native/seccomp.cc",
        "native/signals.cc",
        "native/snapshot.cc",
        "native/teardown.cc",
        "native/trace.cc",
        "native/futex.cc",
        "native/threads.cc",
        "native/processes/fork.cc",
        "native/processes/guest.cc",
        "native/processes/wait.cc",
        "native/kvm/vcpu.cc",
        "native/hypercalls/children.cc",
        "native/hypercalls/events.cc",
        "native/hypercalls/files.cc",
        "native/hypercalls/procfs.cc",
        "native/hypercalls/io.cc",
        "native/hypercalls/memory.cc",
        "native/hypercalls/net.cc",
        "native/hypercalls/poll.cc",
        "native/hypercalls/process.cc",
        "native/hypercalls/table.cc",
        "native/hypercalls/time.cc",
        "native/kvm/runtime.S"
      ],
      "include_dirs": [
        "<!(node -p \"require('node-addon-api').include_dir\")",
        "native"
      ],
      "defines": ["NAPI_VERSION=9", "NAPI_CPP_EXCEPTIONS", "_GNU_SOURCE"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-std=gnu++17"],
      "cflags_cc": ["-std=c++20", "-fexceptions", "-Wall", "-Wextra", "-Wno-missing-field-initializers", "-Wno-unused-parameter", "-Wno-restrict"],
      "cflags": ["-O2"]
    }
  ]
}
