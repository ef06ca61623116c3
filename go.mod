module github.com/gatewatch/gatewatch

go 1.26

require (
	github.com/buger/jsonparser v1.6.1 // indirect
	gonum.org/v1/gonum v0.17.0 // indirect
	gopkg.in/yaml.v3 v3.0.1 // indirect
)
