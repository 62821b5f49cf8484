/* log.h - leveled logging to stderr. The level comes from DKV_LOG
 * (error|warn|info|debug), default warn, read once. */
#ifndef DKV_COMMON_LOG_H
#define DKV_COMMON_LOG_H

enum dkv_log_level { DKV_LOG_ERROR, DKV_LOG_WARN, DKV_LOG_INFO, DKV_LOG_DEBUG };

void dkv_log(enum dkv_log_level level, const char *module, const char *fmt,
	     ...) __attribute__((format(printf, 3, 4)));
int dkv_log_enabled(enum dkv_log_level level);

#define DKV_ERROR(mod, ...) dkv_log(DKV_LOG_ERROR, mod, __VA_ARGS__)
#define DKV_WARN(mod, ...) dkv_log(DKV_LOG_WARN, mod, __VA_ARGS__)
#define DKV_INFO(mod, ...) dkv_log(DKV_LOG_INFO, mod, __VA_ARGS__)
#define DKV_DEBUG(mod, ...)                                                    \
	do {                                                                   \
		if (dkv_log_enabled(DKV_LOG_DEBUG))                            \
			dkv_log(DKV_LOG_DEBUG, mod, __VA_ARGS__);              \
	} while (0)

#endif
