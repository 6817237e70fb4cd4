module membudget.io/bench/responder

go 1.19
