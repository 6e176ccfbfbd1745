# stork_target_warnings(<target>): the warning set of our own tests, examples and benchmarks.
# Never applied to stork::stork, so that users' builds keep their own flags.
function(stork_target_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Wconversion -Wshadow -Werror)
endfunction()
