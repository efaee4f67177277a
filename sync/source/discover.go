package source

// Discovery is what a source can see of the directory's rooms (`otj-edge rooms discover`):
// the room mailboxes and the room lists that group them. A source type that can list rooms
// returns one from its row's discover function (agent/sources.go).
type Discovery struct {
	Rooms []DiscoveredRoom `json:"rooms"` // sorted by display name, then mailbox
	Lists []RoomList       `json:"roomLists"`
}

// DiscoveredRoom is one room mailbox as the directory describes it. The pointers are nil
// when the directory does not say.
type DiscoveredRoom struct {
	Mailbox              string `json:"mailbox"` // lower case
	DisplayName          string `json:"displayName"`
	Capacity             *int   `json:"capacity,omitempty"`
	Building             string `json:"building,omitempty"`
	Floor                *int   `json:"floorNumber,omitempty"`
	FloorLabel           string `json:"floorLabel,omitempty"`
	WheelchairAccessible *bool  `json:"isWheelChairAccessible,omitempty"`
	// Lists are the mailboxes of the room lists the room is in, sorted.
	Lists []string `json:"roomLists,omitempty"`
}

// RoomList is a room list (Exchange: a distribution group of rooms) and its rooms' mailboxes.
type RoomList struct {
	Mailbox     string   `json:"mailbox"` // lower case
	DisplayName string   `json:"displayName"`
	Rooms       []string `json:"rooms"` // sorted
}
