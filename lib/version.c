/*
 * nk_version(): the library's version string.  It owns nothing else and
 * calls nothing; the number comes from nk_version.h, which CMake writes into
 * the build tree from project(VERSION), so the library, the statistics'
 * header and JSON (stats_int.h), the shared object's file name and the
 * launcher's --version cannot disagree.
 */
#include "nk_base.h"
#include "nk_version.h"

NK_EXPORT const char *
nk_version(void)
{
	return NK_VERSION_STRING;
}
