module membudget.io/test/faultproxy

go 1.26.0
