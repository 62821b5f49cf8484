# dkv-bench-etcd, the comparison benchmark's etcd driver (Go, clientv3;
# bench/etcd/README.md). Built offline in GOPATH mode from Debian's
# golang-go and golang-etcd-server-dev; skipped when either is missing.
# Included from bench/CMakeLists.txt.

set(DKV_ETCD_GOPATH /usr/share/gocode CACHE PATH
    "GOPATH holding go.etcd.io/etcd/clientv3 (Debian: golang-etcd-server-dev)")
find_program(GO_EXECUTABLE go)

if(NOT GO_EXECUTABLE)
  message(STATUS "dkv-bench-etcd: go not found, the etcd driver is skipped")
elseif(NOT EXISTS ${DKV_ETCD_GOPATH}/src/go.etcd.io/etcd/clientv3)
  message(STATUS "dkv-bench-etcd: ${DKV_ETCD_GOPATH}/src/go.etcd.io/etcd/"
                 "clientv3 not found, the etcd driver is skipped")
else()
  file(GLOB DKV_ETCD_SOURCES CONFIGURE_DEPENDS ${CMAKE_CURRENT_LIST_DIR}/*.go)
  list(FILTER DKV_ETCD_SOURCES EXCLUDE REGEX "_test\\.go$")
  set(DKV_ETCD_BIN ${CMAKE_BINARY_DIR}/bin/dkv-bench-etcd)
  # GOPATH mode (no module proxy needed) stamps no VCS data; GOFLAGS is set
  # so that the caller's own cannot change the build. No cgo: nothing of
  # the C toolchain or its flags is involved.
  add_custom_command(
    OUTPUT ${DKV_ETCD_BIN}
    COMMAND ${CMAKE_COMMAND} -E make_directory ${CMAKE_BINARY_DIR}/bin
    COMMAND ${CMAKE_COMMAND} -E env GOPATH=${DKV_ETCD_GOPATH} GO111MODULE=off
            GOFLAGS=-buildvcs=false GOCACHE=${CMAKE_BINARY_DIR}/go-cache
            CGO_ENABLED=0
            ${GO_EXECUTABLE} build -o ${DKV_ETCD_BIN} ${DKV_ETCD_SOURCES}
    WORKING_DIRECTORY ${CMAKE_CURRENT_LIST_DIR}
    DEPENDS ${DKV_ETCD_SOURCES}
    COMMENT "Building dkv-bench-etcd (Go, GOPATH mode)"
    VERBATIM)
  add_custom_target(dkv-bench-etcd ALL DEPENDS ${DKV_ETCD_BIN})
endif()
