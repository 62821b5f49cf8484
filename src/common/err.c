/* err.c - text for the codes listed once in include/dkv_err.h. */
#include "dkv_err.h"

const char *dkv_strerror(int rc)
{
	switch (rc) {
	case DKV_OK:
		return "success";
#define DKV_ERR_TEXT_(name, val, text)                                         \
	case DKV_ERR_##name:                                                   \
		return text;
		DKV_FOREACH_ERR(DKV_ERR_TEXT_)
#undef DKV_ERR_TEXT_
	default:
		return "unknown error";
	}
}

const char *dkv_errname(int rc)
{
	switch (rc) {
	case DKV_OK:
		return "OK";
#define DKV_ERR_NAME_(name, val, text)                                         \
	case DKV_ERR_##name:                                                   \
		return #name;
		DKV_FOREACH_ERR(DKV_ERR_NAME_)
#undef DKV_ERR_NAME_
	default:
		return "UNKNOWN";
	}
}
