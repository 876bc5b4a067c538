/*
 * The program the install tests build against an installed numakeg (through
 * pkg-config and through the CMake package): it checks nk_version() against
 * the version it is given, allocates and frees zone items and malloc
 * blocks, and checks that numakeg handed them out.  Exits 1 on a failure.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nk_test.h"   /* test/harness: the install tests put it on the include path */
#include <numakeg.h>

#define NITEMS 1000

int
main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: %s EXPECTED_VERSION\n", argv[0]);
		return 2;
	}
	const char *version = nk_version();
	CHECK(version != NULL && strcmp(version, argv[1]) == 0, "nk_version() is the expected version");
	printf("nk_version %s\n", version != NULL ? version : "(null)");

	nk_zone_t zone = nk_zcreate("install-check", 48, NULL, NULL, NULL, NULL,
	    NK_ALIGN_PTR, NK_ZONE_FIRSTTOUCH);
	REQUIRE(zone != NULL, "nk_zcreate");
	static unsigned char *items[NITEMS];
	for (int i = 0; i < NITEMS; i++) {
		items[i] = nk_zalloc(zone, NK_WAITOK | NK_ZERO);
		REQUIRE(items[i] != NULL, "nk_zalloc");
		for (int b = 0; b < 48; b++)
			CHECK(items[i][b] == 0, "NK_ZERO item is zeroed");
		CHECK(nk_domain_of(items[i]) >= 0, "nk_domain_of(zone item) >= 0");
		memset(items[i], i & 0xff, 48);
	}
	CHECK(nk_zone_get_cur(zone) == NITEMS, "nk_zone_get_cur counts the items");
	for (int i = 0; i < NITEMS; i++) {
		CHECK(items[i][0] == (i & 0xff) && items[i][47] == (i & 0xff), "item contents kept");
		nk_zfree(zone, items[i]);
	}
	CHECK(nk_zone_get_cur(zone) == 0, "nk_zone_get_cur is 0 after the frees");
	nk_zdestroy(zone);

	/* The library exports the standard names: this program's malloc is numakeg's. */
	char *block = malloc(100);
	CHECK(block != NULL && nk_domain_of(block) >= 0, "malloc() is numakeg's");
	free(block);

	return nkt_done("version_check");
}
