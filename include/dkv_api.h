/* dkv_api.h - symbol visibility. dkv builds with -fvisibility=hidden; only
 * declarations marked DKV_API are exported from the shared library. */
#ifndef DKV_API_H
#define DKV_API_H
#if defined(__GNUC__)
#define DKV_API __attribute__((visibility("default")))
#else
#define DKV_API
#endif
#endif
