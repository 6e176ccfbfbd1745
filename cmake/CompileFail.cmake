# cmake -DCXX=<compiler> -DSTD=<17|20> -DINCLUDE=<dir> -DSOURCE=<file.cpp> -P CompileFail.cmake
# A compile-fail test: SOURCE must NOT compile, and the compiler's message must contain the text of its
# "// expect: <text>" line (the static_assert that tells the user what to use instead).
file(STRINGS ${SOURCE} expect_lines REGEX "^// expect: ")
if(NOT expect_lines)
  message(FATAL_ERROR "${SOURCE} has no '// expect: <text>' line")
endif()
list(GET expect_lines 0 expect)
string(REPLACE "// expect: " "" expect "${expect}")
if(NOT STD)
  set(STD 20)
endif()
execute_process(COMMAND ${CXX} -std=c++${STD} -fsyntax-only -I${INCLUDE} ${SOURCE}
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(rc EQUAL 0)
  message(FATAL_ERROR "${SOURCE} compiled, but it must be rejected at compile time")
endif()
string(FIND "${err}" "${expect}" at)
if(at EQUAL -1)
  message(FATAL_ERROR "${SOURCE} was rejected, but not with \"${expect}\":\n${err}")
endif()
message(STATUS "rejected as expected: ${expect}")
