module membudget.io/test/targets/leaky

go 1.19

require membudget.io/contrib/go v0.0.0

replace membudget.io/contrib/go => ../../../contrib/go
