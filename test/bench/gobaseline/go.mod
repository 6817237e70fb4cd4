module membudget.io/bench/gobaseline

go 1.19
