# NUMAKEG_UBSAN builds the library and the unit tests with UBSan: every
# report aborts, so ctest sees it as a failure.
option(NUMAKEG_UBSAN "Build with UndefinedBehaviorSanitizer" OFF)
if(NUMAKEG_UBSAN)
  add_compile_options(-fsanitize=undefined -fno-sanitize-recover=undefined)
  add_link_options(-fsanitize=undefined)
endif()
