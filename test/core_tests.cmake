# The engine's unit tests, on 4 fake domains.
set(NK_FAKE4 NUMAKEG_FAKE_DOMAINS=4)
if(TARGET core_keg)
  add_test(NAME core_keg COMMAND core_keg all)
  add_test(NAME core_keg_fallback COMMAND core_keg fallback)
  set_tests_properties(core_keg PROPERTIES ENVIRONMENT "${NK_FAKE4}" TIMEOUT 120)
  set_tests_properties(core_keg_fallback PROPERTIES
    ENVIRONMENT "${NK_FAKE4};NUMAKEG_DOMAIN_LIMIT=0:2M" TIMEOUT 120)
endif()
if(TARGET core_zone)
  add_test(NAME core_zone COMMAND core_zone)
  set_tests_properties(core_zone PROPERTIES
    ENVIRONMENT "${NK_FAKE4};NUMAKEG_DOMAIN_LIMIT=4M" TIMEOUT 120)
endif()
foreach(t core_kva core_page)
  if(TARGET ${t})
    add_test(NAME ${t} COMMAND ${t})
    set_tests_properties(${t} PROPERTIES ENVIRONMENT "${NK_FAKE4}" TIMEOUT 120)
  endif()
endforeach()

# Fallback by distance with a matrix whose order is not the index order:
# from domain 0 the nearest is 3, then 1, then 2 (row 3 has a tie, broken
# by index).  Domains 0, 3 and 1 are capped, so the second and third
# choices are reached before the uncapped last one.
if(TARGET core_distance)
  set(NK_DISTANCES "NUMAKEG_FAKE_DISTANCES=10,30,40,20,30,10,20,20,40,20,10,30,20,20,30,10")
  set(NK_DIST_ENV "${NK_FAKE4};${NK_DISTANCES};NUMAKEG_DOMAIN_LIMIT=0:2M,3:2M,1:2M")
  add_test(NAME core_distance_table COMMAND core_distance table 0312 1230 2130 3012)
  add_test(NAME core_distance_zone COMMAND core_distance zone 0312)
  add_test(NAME core_distance_large COMMAND core_distance large 0312)
  add_test(NAME core_distance_domain COMMAND core_distance domain 0312)
  add_test(NAME core_distance_domain_large COMMAND core_distance domain_large 0312)
  set_tests_properties(core_distance_table core_distance_zone core_distance_large
    core_distance_domain core_distance_domain_large PROPERTIES
    ENVIRONMENT "${NK_DIST_ENV}" TIMEOUT 120)
  # A malformed matrix: one line on stderr, and the line topology (0 1 2 3).
  add_test(NAME core_distance_bad_matrix COMMAND sh -c
    "err=$(mktemp) && \"$0\" table 0123 1023 2130 3210 2>$err && \"$0\" zone 0123 2>>$err; rc=$?; cat $err >&2; \
[ $rc = 0 ] || exit $rc; n=$(grep -c NUMAKEG_FAKE_DISTANCES $err); rm -f $err; \
[ \"$n\" = 2 ] || { echo \"want one warning per process, got $n\" >&2; exit 1; }"
    $<TARGET_FILE:core_distance>)
  set_tests_properties(core_distance_bad_matrix PROPERTIES
    ENVIRONMENT "${NK_FAKE4};NUMAKEG_FAKE_DISTANCES=10,20,30,x;NUMAKEG_DOMAIN_LIMIT=0:2M,1:2M,2:2M"
    TIMEOUT 120)
endif()
