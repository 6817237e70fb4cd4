module membudget.io/contrib/go

go 1.19
