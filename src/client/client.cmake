# libdkv: the client library (include/dkv.h). Included by src/CMakeLists.txt,
# with its sources in DKV_CLIENT_SRC.
#
#   dkv_client        SHARED  libdkv.so.0 (OUTPUT_NAME dkv): only DKV_API
#                             symbols are exported (-fvisibility=hidden)
#   dkv_client_static STATIC  libdkv_client.a: the same objects, for the dkv
#                             tool and tests that also need internal calls
#
# The layers' static libraries are compiled with -fPIC (global
# POSITION_INDEPENDENT_CODE) and hidden visibility, so they link into the
# shared library without exporting anything. dkv_common is linked whole:
# it carries DKV_API functions (dkv_strerror, dkv_errname) that dkv.h
# promises even when no client code calls them. Transactions (tx*.c) embed
# the transaction core's coordinator (dkv_txn) and a clock (dkv_hlc).
include(GNUInstallDirs)

add_library(dkv_client_obj OBJECT ${DKV_CLIENT_SRC})
target_compile_definitions(dkv_client_obj PRIVATE
  DKV_VERSION_STRING="${PROJECT_VERSION}")
# For include directories and usage requirements only.
target_link_libraries(dkv_client_obj PUBLIC dkv_txn dkv_hlc dkv_proto
                      dkv_shard dkv_common Threads::Threads)

add_library(dkv_client SHARED $<TARGET_OBJECTS:dkv_client_obj>)
target_link_libraries(dkv_client PRIVATE
  -Wl,--whole-archive $<TARGET_FILE:dkv_common> -Wl,--no-whole-archive
  dkv_txn dkv_hlc dkv_proto dkv_shard dkv_common
  PkgConfig::JANSSON PkgConfig::XXHASH ${CMAKE_DL_LIBS} Threads::Threads)
add_dependencies(dkv_client dkv_common)
set_target_properties(dkv_client PROPERTIES
  OUTPUT_NAME dkv
  VERSION ${PROJECT_VERSION}
  SOVERSION 0
  PUBLIC_HEADER "${PROJECT_SOURCE_DIR}/include/dkv.h;${PROJECT_SOURCE_DIR}/include/dkv_err.h;${PROJECT_SOURCE_DIR}/include/dkv_api.h;${PROJECT_SOURCE_DIR}/include/dkv_shardfn.h")
# Every undefined symbol must come from a listed library.
target_link_options(dkv_client PRIVATE -Wl,--no-undefined)

add_library(dkv_client_static STATIC $<TARGET_OBJECTS:dkv_client_obj>)
target_link_libraries(dkv_client_static PUBLIC dkv_txn dkv_hlc dkv_proto
                      dkv_shard dkv_common Threads::Threads)

# pkg-config: relocatable (prefix from the .pc file's own location), so a
# tree installed with `cmake --install <build> --prefix <dir>` works as is.
file(RELATIVE_PATH DKV_PC_TO_PREFIX
  "/prefix/${CMAKE_INSTALL_LIBDIR}/pkgconfig" "/prefix")
string(REGEX REPLACE "/$" "" DKV_PC_TO_PREFIX "${DKV_PC_TO_PREFIX}")
configure_file(${CMAKE_CURRENT_LIST_DIR}/dkv.pc.in
               ${CMAKE_BINARY_DIR}/dkv.pc @ONLY)

install(TARGETS dkv_client
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  PUBLIC_HEADER DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(FILES ${CMAKE_BINARY_DIR}/dkv.pc
  DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
