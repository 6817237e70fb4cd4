module membudget.io/bench/loadgen

go 1.19
