# The dkv command-line tool (build/bin/dkv). Included by src/CMakeLists.txt
# with its sources in DKV_CLI_SRC. It links libdkv's static variant:
# the public API for data, and the internal connection calls for cluster
# administration (PING, INFO, DKV.MAP, DKV.SETMAP to a chosen node).
include(GNUInstallDirs)
pkg_check_modules(LIBEDIT REQUIRED IMPORTED_TARGET libedit)

if(TARGET dkv_client_static)
  add_executable(dkv_cli ${DKV_CLI_SRC})
  set_target_properties(dkv_cli PROPERTIES OUTPUT_NAME dkv)
  target_compile_definitions(dkv_cli PRIVATE
    DKV_VERSION_STRING="${PROJECT_VERSION}")
  target_link_libraries(dkv_cli PRIVATE dkv_client_static dkv_shard
                        dkv_proto dkv_hlc PkgConfig::JANSSON
                        PkgConfig::LIBEDIT)
  install(TARGETS dkv_cli RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
  # `dkv local start` runs the dkvd installed next to dkv.
  if(TARGET dkvd)
    install(TARGETS dkvd RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
  endif()
endif()
